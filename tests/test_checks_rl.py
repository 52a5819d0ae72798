"""Chapter 15 checks: fail on blanks and typical mistakes (with a useful message), pass on the solutions
(solutions/15_deep_rl.py, see checks_harness.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from checks_harness import assert_fails, blank, check_tests, solution, two_hints
from dlcourse.checks import rl as check

RIGHT = solution("15_deep_rl")


# ---- Task 1: the Bellman backup -----------------------------------------------------------------
def _masked(U, terminal):
    return np.where(terminal, 0.0, U)


def backup_max_over_states(P, R, U, gamma, terminal):
    Q = R + gamma * P @ _masked(U, terminal)
    return Q, Q.max(axis=0)


def backup_most_likely_next_state(P, R, U, gamma, terminal):
    """Bootstraps from the argmax next state instead of the expectation over next states."""
    Q = R + gamma * _masked(U, terminal)[P.argmax(axis=2)]
    return Q, Q.max(axis=1)


def backup_discounts_the_reward(P, R, U, gamma, terminal):
    Q = gamma * (R + P @ _masked(U, terminal))
    return Q, Q.max(axis=1)


def backup_bootstraps_from_terminal_states(P, R, U, gamma, terminal):
    Q = R + gamma * P @ U
    return Q, Q.max(axis=1)


def backup_expected_over_actions(P, R, U, gamma, terminal):
    """The value of the uniform random policy (mean over actions) instead of the best action."""
    Q = R + gamma * P @ _masked(U, terminal)
    return Q, Q.mean(axis=1)


def backup_outputs_swapped(P, R, U, gamma, terminal):
    Q, U_new = RIGHT.bellman_backup(P, R, U, gamma, terminal)
    return U_new, Q


# ---- Task 2: the TD target ----------------------------------------------------------------------
def _best_next(target_net, next_states, reduce="max"):
    with torch.no_grad():
        q = target_net(next_states)
        return q.max(dim=1).values if reduce == "max" else q.mean(dim=1)


def targets_no_done_mask(rewards, next_states, dones, target_net, gamma):
    return rewards + gamma * _best_next(target_net, next_states)


def targets_mask_inverted(rewards, next_states, dones, target_net, gamma):
    return rewards + gamma * dones * _best_next(target_net, next_states)


def targets_mean_over_actions(rewards, next_states, dones, target_net, gamma):
    return rewards + gamma * (1 - dones) * _best_next(target_net, next_states, reduce="mean")


def targets_with_gradient(rewards, next_states, dones, target_net, gamma):
    """Right values, but the gradient would flow into the target network."""
    return rewards + gamma * (1 - dones) * target_net(next_states).max(dim=1).values


def targets_discount_everything(rewards, next_states, dones, target_net, gamma):
    return gamma * (rewards + (1 - dones) * _best_next(target_net, next_states))


def targets_detached_afterwards(rewards, next_states, dones, target_net, gamma):
    """Computing with gradient and detaching the result is a correct answer."""
    return (rewards + gamma * (1 - dones) * target_net(next_states).max(dim=1).values).detach()


# ---- Task 3: the DQN loss -----------------------------------------------------------------------
def _taken(online_net, states, actions):
    return online_net(states).gather(1, actions[:, None]).squeeze(1)


def loss_targets_from_the_online_network(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    y = RIGHT.td_targets(rewards, next_states, dones, online_net, gamma)
    return nn.functional.mse_loss(_taken(online_net, states, actions), y)


def loss_gradient_into_the_target(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    y = targets_with_gradient(rewards, next_states, dones, target_net, gamma)
    return nn.functional.mse_loss(_taken(online_net, states, actions), y)


def loss_max_instead_of_taken_action(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    y = RIGHT.td_targets(rewards, next_states, dones, target_net, gamma)
    return nn.functional.mse_loss(online_net(states).max(dim=1).values, y)


def loss_all_actions_broadcast(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    y = RIGHT.td_targets(rewards, next_states, dones, target_net, gamma)
    return ((online_net(states) - y[:, None]) ** 2).mean()


def loss_summed(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    y = RIGHT.td_targets(rewards, next_states, dones, target_net, gamma)
    return ((_taken(online_net, states, actions) - y) ** 2).sum()


def loss_huber(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    y = RIGHT.td_targets(rewards, next_states, dones, target_net, gamma)
    return nn.functional.smooth_l1_loss(_taken(online_net, states, actions), y)


def loss_detached_prediction(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    """Right value, but computed as a number: no gradient reaches the online network."""
    return RIGHT.dqn_loss(online_net, target_net, states, actions, rewards, next_states, dones, gamma).detach()


def loss_indexed(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    """Indexing with arange instead of gather: a correct answer."""
    q = online_net(states)[torch.arange(len(actions)), actions]
    return ((q - RIGHT.td_targets(rewards, next_states, dones, target_net, gamma)) ** 2).mean()


# ---- Task 4: the REINFORCE loss -----------------------------------------------------------------
def _reinforce(logits, actions, rewards, baseline, gamma, to_go=True, sign=-1, detach=True, discount=True,
               reduce="sum", gamma_t=False):
    g = gamma if discount else 1.0
    T = len(rewards)
    weights = torch.tensor([g ** (k - t) if k >= t or not to_go else 0.0 for t in range(T) for k in range(T)],
                           dtype=rewards.dtype).reshape(T, T)
    if not to_go:
        weights = torch.tensor([[g ** k for k in range(T)]] * T, dtype=rewards.dtype)        # G_0 everywhere
    returns = weights @ rewards
    advantage = returns - baseline
    if detach:
        advantage = advantage.detach()
    if gamma_t:
        advantage = advantage * gamma ** torch.arange(T, dtype=rewards.dtype)
    log_pi = torch.log_softmax(logits, dim=1)[torch.arange(T), actions]
    total = (advantage * log_pi)
    return sign * (total.sum() if reduce == "sum" else total.mean())


def reinforce_total_return(*a):
    return _reinforce(*a, to_go=False)


def reinforce_wrong_sign(*a):
    return _reinforce(*a, sign=+1)


def reinforce_baseline_not_detached(*a):
    return _reinforce(*a, detach=False)


def reinforce_no_discount(*a):
    return _reinforce(*a, discount=False)


def reinforce_mean_over_steps(*a):
    return _reinforce(*a, reduce="mean")


def reinforce_extra_gamma_power(*a):
    """Sutton and Barto's gamma^t factor, which this task (like most implementations) leaves out."""
    return _reinforce(*a, gamma_t=True)


def reinforce_probabilities_not_logs(logits, actions, rewards, baseline, gamma):
    T = len(rewards)
    advantage = (_reinforce_returns(rewards, gamma) - baseline).detach()
    return -(advantage * torch.softmax(logits, dim=1)[torch.arange(T), actions]).sum()


def _reinforce_returns(rewards, gamma):
    T = len(rewards)
    return torch.stack([sum(gamma ** (k - t) * rewards[k] for k in range(t, T)) for t in range(T)])


def reinforce_matrix_form(*a):
    """The returns-to-go as a matrix product: a correct answer."""
    return _reinforce(*a)


test_checks_fail_on_blanks_and_wrong_answers, test_checks_pass_on_the_solutions = check_tests(check, RIGHT, [
    ("bellman_backup", backup_max_over_states, "U_new has shape"),
    ("bellman_backup", backup_most_likely_next_state, "Q differs"),
    ("bellman_backup", backup_discounts_the_reward, "Q differs"),
    ("bellman_backup", backup_bootstraps_from_terminal_states, "Q differs"),
    ("bellman_backup", backup_expected_over_actions, "U_new differs"),
    ("bellman_backup", backup_outputs_swapped, "Q has shape"),
    ("td_targets", targets_no_done_mask, "differs"),
    ("td_targets", targets_mask_inverted, "differs"),
    ("td_targets", targets_mean_over_actions, "differs"),
    ("td_targets", targets_with_gradient, "require a gradient"),
    ("td_targets", targets_discount_everything, "differs"),
    ("dqn_loss", loss_targets_from_the_online_network, "the loss is"),
    ("dqn_loss", loss_gradient_into_the_target, "the gradient that reaches the target network"),
    ("dqn_loss", loss_max_instead_of_taken_action, "the loss is"),
    ("dqn_loss", loss_all_actions_broadcast, "the loss is"),
    ("dqn_loss", loss_summed, "the loss is"),
    ("dqn_loss", loss_huber, "the loss is"),
    ("dqn_loss", loss_detached_prediction, "the gradient of the online network"),
    ("reinforce_loss", reinforce_total_return, "the loss is"),
    ("reinforce_loss", reinforce_wrong_sign, "the loss is"),
    ("reinforce_loss", reinforce_baseline_not_detached, "the gradient that reaches the baseline"),
    ("reinforce_loss", reinforce_no_discount, "the loss is"),
    ("reinforce_loss", reinforce_mean_over_steps, "the loss is"),
    ("reinforce_loss", reinforce_extra_gamma_power, "the loss is"),
    ("reinforce_loss", reinforce_probabilities_not_logs, "the loss is"),
], extra_right=[("td_targets", targets_detached_afterwards), ("dqn_loss", loss_indexed),
                ("reinforce_loss", reinforce_matrix_form)])


def test_the_hand_made_chain_backs_up_to_known_values():
    """On the 3-state chain, from U = 0: Q = R; with U = (0.3, 0.7, 2.0) the terminal 2.0 is ignored."""
    P, R, terminal = check._hand_made_chain()
    Q, U = RIGHT.bellman_backup(P, R, np.zeros(3), 0.9, terminal)
    assert np.allclose(Q, R) and np.allclose(U, [0.25, 0.8, 0.0])
    Q, U = RIGHT.bellman_backup(P, R, np.array([0.3, 0.7, 2.0]), 0.9, terminal)
    assert np.allclose(Q[0], [0.9 * (0.2 * 0.3 + 0.8 * 0.7), 0.25 + 0.9 * 0.5 * 0.3])
    assert np.allclose(Q[2], 0.0)


def test_a_failure_names_the_case_and_offers_hints_without_the_answer(capsys):
    message = assert_fails(check.bellman_backup, backup_bootstraps_from_terminal_states, "bellman_backup")
    assert "Test case" in message and "check.hint('bellman_backup')" in message
    assert len(check.failing_case("bellman_backup")) == 5
    assert_fails(check.td_targets, targets_with_gradient, "td_targets")
    assert len(check.failing_case("td_targets")) == 5
    for task in RIGHT.tasks:
        text = two_hints(check, task, capsys)
        assert "def " not in text and "return " not in text                        # nudges, no code


def test_a_blank_helper_is_named():
    def td_targets(rewards, next_states, dones, target_net, gamma):
        raise NotImplementedError

    def dqn_loss(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
        y = td_targets(rewards, next_states, dones, target_net, gamma)
        return nn.functional.mse_loss(_taken(online_net, states, actions), y)

    assert_fails(check.dqn_loss, dqn_loss, "the helper `td_targets` you call is not implemented yet")


# ---- Task 5: the outcome task -------------------------------------------------------------------
def zeros_table(env, episodes, seed=0):
    return np.zeros((env.n_states, env.n_actions))


def random_table(env, episodes, seed=0):
    return np.random.default_rng(seed).normal(size=(env.n_states, env.n_actions))


def transposed_table(env, episodes, seed=0):
    return RIGHT.q_learning(env, episodes, seed).T


def too_many_episodes(env, episodes, seed=0):
    return RIGHT.q_learning(env, 2 * episodes, seed)


@pytest.mark.parametrize("wrong,message", [(blank, "not implemented yet"), (zeros_table, "the target is"),
                                           (random_table, "the target is"), (transposed_table, "shape (16, 4)"),
                                           (too_many_episodes, "the limit is 1000"),
                                           (lambda env, episodes, seed=0: None, "shape (16, 4)")])
def test_the_outcome_check_fails_below_the_target(wrong, message):
    assert_fails(check.q_learning_outcome, wrong, message)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_the_outcome_check_passes_on_the_solution_over_seeds(seed, capsys):
    check.q_learning_outcome(RIGHT.q_learning, seed=seed)
    assert "reached expected return of the greedy policy" in capsys.readouterr().out


def test_the_gridworld_simulator_follows_its_arrays():
    """Empirical transition frequencies of env.step match env.P; the exact policy value matches rollouts."""
    env = check.gridworld(seed=7)
    s, a, n = 9, 1, 4000
    counts = np.zeros(env.n_states)
    for _ in range(n):
        env.state = s
        counts[env.step(a)[0]] += 1
    assert np.abs(counts / n - env.P[s, a]).max() < 0.03
    assert np.allclose(env.P.sum(axis=2), 1.0)
    assert check.optimal_start_value() > check.TARGET
