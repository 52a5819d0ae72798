"""dlcourse.rl and dlcourse.rl_torch (chapter 15): the REINFORCE score-function gradient against autograd in
float64 on random shapes; value iteration on Russell and Norvig's 4x3 world, whose values are known;
Q-learning's greedy policy equal to value iteration's; the replay buffer's shapes, window and errors; the
batched MLP equal to K separate networks; clear errors on bad input."""
import numpy as np
import pytest
import torch

from dlcourse.rl import (ReplayBuffer, bellman_backup, greedy_policy, gridworld, linear_epsilon, mcts_nim,
                         nim_best_moves, nim_value, q_learning, reinforce_gradient, returns_to_go,
                         softmax_policy, value_iteration)
from dlcourse.rl_torch import BatchedMLP, cartpole_episodes, dqn_loss, evaluate_greedy, rewards_to_go

RN = ("...+", ".#.-", "....")
BOOK = {(0, 0): 0.812, (0, 1): 0.868, (0, 2): 0.918, (1, 0): 0.762, (1, 2): 0.660,
        (2, 0): 0.705, (2, 1): 0.655, (2, 2): 0.611, (2, 3): 0.388}


@pytest.mark.parametrize("seed", range(6))
def test_reinforce_gradient_matches_autograd(seed):
    rng = np.random.default_rng(seed)
    D, A, T = rng.integers(1, 8, size=3)
    theta, states = rng.normal(size=(D, A)), rng.normal(size=(T, D))
    actions, weights = rng.integers(0, A, T), rng.normal(size=T)
    th = torch.tensor(theta, requires_grad=True)
    logp = torch.log_softmax(torch.from_numpy(states) @ th, 1)[torch.arange(T), torch.from_numpy(actions)]
    (logp * torch.from_numpy(weights)).sum().backward()
    assert np.abs(reinforce_gradient(theta, states, actions, weights) - th.grad.numpy()).max() < 1e-12


def test_policy_and_returns():
    p = softmax_policy(np.zeros((3, 4)), np.ones((5, 3)))
    assert p.shape == (5, 4) and np.allclose(p, 0.25)
    assert np.allclose(returns_to_go([1, 1, 1], 0.5), [1.75, 1.5, 1.0])
    assert np.allclose(rewards_to_go(np.ones((3, 2)), 0.5), [[1.75] * 2, [1.5] * 2, [1.0] * 2])


def test_gridworld_arrays():
    w = gridworld(RN)
    S = len(w.cells)
    assert S == 11 and w.P.shape == (S, 4, S) and w.R.shape == (S, 4) and w.rewards.shape == (S, 4, S)
    assert np.allclose(w.P.sum(2), 1) and w.terminal.sum() == 2
    assert np.allclose(w.R, (w.P * w.rewards).sum(2))
    assert np.all(w.R[w.terminal] == 0)


def test_value_iteration_reproduces_the_book():
    w = gridworld(RN)
    U, Q, iters = value_iteration(w.P, w.R, gamma=1.0)
    grid = w.to_grid(U)
    assert max(abs(grid[c] - v) for c, v in BOOK.items()) < 0.0015
    assert np.allclose(Q.max(1), U, atol=1e-9) and np.allclose(bellman_backup(w.P, w.R, U, 1.0).max(1), U, atol=1e-9)
    # bottom row, third cell: the long way round (left), away from the pit
    assert greedy_policy(Q)[np.flatnonzero((w.cells == (2, 2)).all(1))[0]] == 3


def test_value_iteration_two_state_chain():
    # state 0 -> state 1 (reward 1), then absorbing with reward 0: U = (1, 0) whatever gamma
    P = np.zeros((2, 1, 2)); P[0, 0, 1] = 1; P[1, 0, 1] = 1
    R = np.array([[1.0], [0.0]])
    U, _, _ = value_iteration(P, R, gamma=0.5)
    assert np.allclose(U, [1.0, 0.0])
    P2 = np.zeros((1, 1, 1)); P2[0, 0, 0] = 1                        # r = 1 forever: 1 / (1 - gamma)
    assert np.allclose(value_iteration(P2, np.ones((1, 1)), gamma=0.9)[0], 10.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_q_learning_greedy_equals_value_iteration(seed):
    w = gridworld(RN)
    _, Q, _ = value_iteration(w.P, w.R, gamma=0.9)
    Ql = q_learning(w, 0.9, 30_000, rng=np.random.default_rng(seed))
    free = ~w.terminal
    assert np.array_equal(greedy_policy(Ql)[free], greedy_policy(Q)[free])


def test_epsilon_schedule():
    assert linear_epsilon(0) == 1.0 and linear_epsilon(10_000) == pytest.approx(0.05)
    assert linear_epsilon(2_500, 1.0, 0.0, 5_000) == pytest.approx(0.5)


def test_replay_buffer_shapes_window_and_wraparound():
    buf = ReplayBuffer(capacity=5, obs_dim=3, members=2)
    rng = np.random.default_rng(0)
    for t in range(7):
        buf.push(s=np.full((2, 3), t), a=np.array([t, t]), r=np.full(2, t), s2=np.full((2, 3), t + 1),
                 done=np.zeros(2), valid=np.ones(2))
    assert len(buf) == 5
    batch = buf.sample(16, rng)
    assert batch["s"].shape == (2, 16, 3) and batch["a"].shape == (2, 16) and batch["a"].dtype == np.int64
    assert set(np.unique(batch["a"])) <= {2, 3, 4, 5, 6}                 # the oldest two were overwritten
    recent = buf.sample(32, rng, window=np.array([1, 2]))
    assert np.all(recent["a"][0] == 6) and set(np.unique(recent["a"][1])) <= {5, 6}


def test_replay_buffer_errors():
    buf = ReplayBuffer(4, obs_dim=2)
    with pytest.raises(ValueError, match="sample"):
        buf.sample(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="shape"):
        buf.push(s=np.zeros((1, 3)), a=[0], r=[0], s2=np.zeros((1, 2)), done=[0], valid=[1])
    with pytest.raises(ValueError, match="push"):
        buf.push(s=np.zeros((1, 2)), a=[0])
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, obs_dim=2)


def test_bad_inputs_have_clear_errors():
    with pytest.raises(ValueError, match="layout"):
        gridworld(["..", "..."])
    with pytest.raises(ValueError, match="layout"):
        gridworld(["..x"])
    with pytest.raises(ValueError, match="P"):
        value_iteration(np.ones((2, 1, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="gamma"):
        value_iteration(np.eye(2)[:, None], np.zeros((2, 1)), gamma=1.5)
    with pytest.raises(ValueError, match="actions"):
        reinforce_gradient(np.zeros((2, 3)), np.zeros((4, 2)), np.array([0, 1, 2, 3]), np.ones(4))
    with pytest.raises(ValueError, match="states"):
        reinforce_gradient(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(4, int), np.ones(4))
    with pytest.raises(ValueError, match="power"):
        q_learning(gridworld(RN), power=0.3)
    with pytest.raises(ValueError, match="x"):
        BatchedMLP(3, [4, 8, 2])(torch.zeros(2, 5, 4))


def test_batched_mlp_equals_separate_networks():
    torch.manual_seed(0)
    net = BatchedMLP(3, [4, 8, 2]).double()
    x = torch.randn(3, 5, 4, dtype=torch.float64)
    for k in range(3):
        ref = torch.relu(x[k] @ net.W[0][k] + net.b[0][k]) @ net.W[1][k] + net.b[1][k]
        assert torch.allclose(net(x)[k], ref)
    # a loss summed over members: member k's gradient depends on member k only
    net(x)[0].sum().backward()
    assert net.W[0].grad[1:].abs().max() == 0


def test_dqn_loss_target_switch():
    torch.manual_seed(0)
    q, tq = BatchedMLP(2, [4, 8, 2]), BatchedMLP(2, [4, 8, 2])
    batch = {"s": torch.randn(2, 6, 4), "a": torch.randint(0, 2, (2, 6)), "r": torch.ones(2, 6),
             "s2": torch.randn(2, 6, 4), "done": torch.zeros(2, 6), "valid": torch.ones(2, 6)}
    with_target = dqn_loss(q, tq, batch, use_target=torch.tensor([True, True]))
    mixed = dqn_loss(q, tq, batch, use_target=torch.tensor([True, False]))
    same = dqn_loss(q, q, batch)
    assert not torch.isclose(with_target, mixed)
    assert torch.isclose(dqn_loss(q, tq, batch, use_target=torch.tensor([False, False])), same)
    batch["valid"] = torch.zeros(2, 6)
    assert dqn_loss(q, tq, batch) == 0


def test_cartpole_rollouts_and_evaluation():
    s, a, r, alive = cartpole_episodes(lambda obs: np.zeros(len(obs), np.int64), 4, seed=0)
    assert s.shape[1:] == (4, 4) and a.shape == r.shape == alive.shape and (r <= alive).all()
    assert 5 < r.sum(0).mean() < 20                                     # always pushing left fails fast
    assert evaluate_greedy(BatchedMLP(2, [4, 8, 2]), 2, episodes=3).shape == (2,)


def test_nim_search():
    assert [nim_value(n) for n in range(1, 9)] == [1, 1, 1, -1, 1, 1, 1, -1]
    assert nim_best_moves(21) == [1] and nim_best_moves(7) == [3]
    visits = mcts_nim(7, simulations=1_000, rng=np.random.default_rng(0))
    assert max(visits, key=visits.get) == 3
