"""Checks for the exercises of chapter 15 (deep reinforcement learning).

The Bellman backup is compared with a private NumPy reference on small hand-made and random MDPs given as
arrays (P: (S, A, S) transition probabilities, R: (S, A) expected rewards), with stochastic and deterministic
transitions, absorbing terminal states whose current value estimate is NOT zero (so that bootstrapping from
them shows), more states than actions (so that a max over the wrong axis shows) and a discount of 0. The DQN
target and loss run on small float64 PyTorch networks whose online and target weights differ; the loss is
backpropagated and the gradients reaching both networks are compared (the target network must get none).
The REINFORCE loss is backpropagated too, and the gradient with respect to the policy's logits is compared
with the score-function gradient written out in NumPy; the baseline must receive no gradient. The outcome
task runs the student's tabular Q-learning on a slippery gridworld of this module and evaluates the greedy
policy of the learned Q table exactly (by solving the Bellman equation of that policy).
"""
from __future__ import annotations

import functools

import numpy as np

from ..rl import bellman_backup as _backup, returns_to_go as _returns_to_go
from . import _FAILING, call_student, check_outcome, CheckFailed, failing_case, hint, run_check

__all__ = ["bellman_backup", "td_targets", "dqn_loss", "reinforce_loss", "q_learning_outcome", "hint",
           "failing_case"]


def _torch():
    import torch

    return torch


# ---- Task 1: the Bellman optimality backup ------------------------------------------------------
def _reference_backup(P, R, U, gamma, terminal):
    Q = _backup(P, R, np.where(terminal, 0.0, U), gamma)   # a terminal state's value is 0, whatever U holds
    return Q, Q.max(axis=1)                                # (S, A), (S,)


def _mdp(rng, S, A, deterministic=False, n_terminal=1):
    """A random MDP with `n_terminal` absorbing, reward-free terminal states (the last ones)."""
    if deterministic:
        P = np.eye(S)[rng.integers(0, S, size=(S, A))]     # (S, A, S) one-hot
    else:
        P = rng.dirichlet(np.full(S, 0.6), size=(S, A))
    R = rng.normal(size=(S, A))
    terminal = np.zeros(S, dtype=bool)
    if n_terminal:
        terminal[S - n_terminal:] = True
    P[terminal] = np.eye(S)[terminal][:, None, :]            # absorbing ...
    R[terminal] = 0.0                                       # ... and reward-free
    return P, R, terminal


def _hand_made_chain():
    """States 0 -> 1 -> 2 (terminal). Action 0 'right' moves right with 0.8, stays with 0.2;
    action 1 'jump' reaches the terminal state at once with reward 0.5, or falls back to 0."""
    P = np.zeros((3, 2, 3))
    P[0, 0] = [0.2, 0.8, 0.0]
    P[1, 0] = [0.0, 0.2, 0.8]
    P[0, 1] = [0.5, 0.0, 0.5]
    P[1, 1] = [0.5, 0.0, 0.5]
    P[2, :, 2] = 1.0
    R = np.array([[0.0, 0.25], [0.8, 0.25], [0.0, 0.0]])   # expected rewards: 1 on entering the end by 'right'
    return P, R, np.array([False, False, True])


def _backup_cases(seed):
    rng = np.random.default_rng(seed + 1)
    P, R, terminal = _hand_made_chain()
    cases = [(P, R, np.array([0.0, 0.0, 0.0]), 0.9, terminal),
             (P, R, np.array([0.3, 0.7, 2.0]), 0.9, terminal)]
    for i in range(8):
        S, A = int(rng.integers(4, 7)), int(rng.integers(2, 4))
        P, R, terminal = _mdp(rng, S, A, deterministic=(i % 4 == 1), n_terminal=(0 if i == 5 else 1 + i % 2))
        gamma = [0.9, 0.0, 0.5, 0.99, 1.0][i % 5]
        cases.append((P, R, rng.normal(size=S) * 2, gamma, terminal))
    return cases


def bellman_backup(student, seed: int = 0) -> None:
    """Check ``bellman_backup(P, R, U, gamma, terminal) -> (Q, U_new)``: one Bellman optimality backup,
    ``Q[s, a] = R[s, a] + gamma * sum_s' P[s, a, s'] U(s')`` with ``U(s') = 0`` for terminal ``s'``, and
    ``U_new[s] = max_a Q[s, a]``."""
    run_check("bellman_backup", student, _reference_backup, _backup_cases(seed), rtol=1e-9, atol=1e-12,
              arg_names=("P", "R", "U", "gamma", "terminal"), out_names=("Q", "U_new"),
              hints=("Q(s, a) is the expected reward of the step plus the discounted value of where you land, "
                     "averaged over ALL next states with their probabilities P[s, a, s'] (not only the most "
                     "likely one). Only the future is discounted, not the reward of this step. An episode "
                     "ends in a terminal state: it is worth 0, whatever the estimate U holds there. U_new "
                     "takes the best action in each state.",
                     "Zero the terminal entries of U first (np.where). P has shape (S, A, S): the matrix "
                     "product P @ U sums over the last axis and gives an (S, A) array. The best action is a "
                     "max over the action axis, axis 1, so U_new has one value per state."))


# ---- Task 2: the DQN target ---------------------------------------------------------------------
def _net(rng, d, A, width=8):
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(int(rng.integers(2**31)))
    net = nn.Sequential(nn.Linear(d, width), nn.Tanh(), nn.Linear(width, A)).double()
    net.__class__ = type("Sequential", (nn.Sequential,),
                         {"__repr__": lambda self: f"<Q network {d} -> {width} -> {A}, float64>"})
    return net


def _transitions(rng, B, d, A):
    torch = _torch()
    dones = (rng.uniform(size=B) < 0.35).astype(np.float64)
    dones[0], dones[-1] = 1.0, 0.0                         # at least one of each (when B > 1)
    return (torch.from_numpy(rng.normal(size=(B, d))), torch.from_numpy(rng.integers(0, A, size=B)),
            torch.from_numpy(rng.normal(size=B)), torch.from_numpy(rng.normal(size=(B, d))),
            torch.from_numpy(dones))


def _reference_targets(rewards, next_states, dones, target_net, gamma):
    torch = _torch()
    with torch.no_grad():
        return rewards + gamma * (1 - dones) * target_net(next_states).max(dim=1).values


def _target_cases(seed):
    rng = np.random.default_rng(seed + 2)
    cases = []
    for i in range(8):
        B, d, A = int(rng.integers(2, 7)), int(rng.integers(2, 5)), int(rng.integers(2, 4))
        _, _, rewards, next_states, dones = _transitions(rng, B, d, A)
        cases.append((rewards, next_states, dones, _net(rng, d, A), [0.99, 0.9, 0.0, 0.5][i % 4]))
    return cases


_DETACH = ("The target is a fixed regression label: compute it under `with torch.no_grad():` (or .detach() it), "
           "so that no gradient flows into the target network.")


def td_targets(student, seed: int = 0) -> None:
    """Check ``td_targets(rewards, next_states, dones, target_net, gamma) -> (B,)``: ``r + gamma * (1 - done)
    * max_a target_net(s')[a]``, a tensor that carries no gradient."""
    name = "td_targets"
    cases = _target_cases(seed)
    run_check(name, student, _reference_targets, cases, rtol=1e-9, atol=1e-12, quiet=True,
              arg_names=("rewards", "next_states", "dones", "target_net", "gamma"), out_names=("targets",),
              hints=("The target is the reward plus the discounted value of the BEST action in the next state, "
                     "as the target network estimates it; after a final step (done = 1) there is no next state "
                     "and the target is the reward alone. " + _DETACH,
                     "target_net(next_states) has shape (B, A): which axis holds the actions? Tensor.max(dim=...) "
                     "returns the values and the indices. A float done flag of 0 or 1 can switch a term off by "
                     "multiplication."))
    got = student(*cases[0])
    if getattr(got, "requires_grad", False):
        _FAILING[name] = cases[0]
        raise CheckFailed(f"{name}: your targets require a gradient (requires_grad=True), so the loss would also "
                          f"train the target network. {_DETACH}\n  `check.hint('{name}')` gives a hint.")
    print(f"\u2714 {name}: correct on {len(cases)} random cases, and the targets carry no gradient")


def _as_loss(loss):
    """The loss as a detached tensor (a plain number, e.g. from .item(), as float64: its gradient shows as 0)."""
    torch = _torch()
    return loss.detach() if torch.is_tensor(loss) else torch.as_tensor(np.asarray(loss, dtype=np.float64))


# ---- Task 3: the DQN loss -----------------------------------------------------------------------
def _flat_grads(net):
    torch = _torch()
    return np.concatenate([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().numpy().ravel()
                           for p in net.parameters()])


def _backpropagated(loss_fn, online_net, target_net, *rest):
    """(loss, gradient of the online net's parameters, gradient that reached the target net's parameters)."""
    torch = _torch()
    loss = loss_fn(online_net, target_net, *rest)
    if loss is None:
        return None, None, None
    if torch.is_tensor(loss) and loss.requires_grad:
        loss.backward()                                    # a plain number has no gradient: zeros below
    return _as_loss(loss), _flat_grads(online_net), _flat_grads(target_net)


def _reference_dqn_loss(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    q_taken = online_net(states).gather(1, actions[:, None]).squeeze(1)          # Q(s, a) of the taken a: (B,)
    targets = _reference_targets(rewards, next_states, dones, target_net, gamma)
    return ((q_taken - targets) ** 2).mean()


def _loss_cases(seed):
    rng = np.random.default_rng(seed + 3)
    cases = []
    for i in range(8):
        B, d, A = int(rng.integers(2, 7)), int(rng.integers(2, 5)), int(rng.integers(2, 4))
        online, target = _net(rng, d, A), _net(rng, d, A)          # different weights, as during training
        cases.append((online, target, *_transitions(rng, B, d, A), [0.99, 0.9, 0.5, 0.0][i % 4]))
    return cases


def dqn_loss(student, seed: int = 0) -> None:
    """Check ``dqn_loss(online_net, target_net, states, actions, rewards, next_states, dones, gamma)``: the mean
    squared TD error of the taken actions' Q values, backpropagated; the gradients of the online network
    must match the reference, and no gradient may reach the target network."""
    name = "dqn_loss"

    def backpropagated(*args):
        return _backpropagated(student, *args)

    backpropagated.__name__ = getattr(student, "__name__", name)
    run_check(name, backpropagated, lambda *args: _backpropagated(_reference_dqn_loss, *args), _loss_cases(seed),
              rtol=1e-8, atol=1e-11,
              arg_names=("online_net", "target_net", "states", "actions", "rewards", "next_states", "dones",
                         "gamma"),
              out_names=("the loss", "the gradient of the online network's parameters",
                         "the gradient that reaches the target network (it must stay 0)"),
              hints=("Only the action that was taken in each transition has a TD error: compare the ONLINE "
                     "network's Q value of that action with the target built from the TARGET network (your "
                     "td_targets), and average the squared differences over the batch. " + _DETACH,
                     "online_net(states) has shape (B, A) but each transition needs one number: look up "
                     "Tensor.gather (its index has as many dimensions as the input). Sum or mean over the batch? "
                     "The task says which."))


# ---- Task 4: the REINFORCE loss with a baseline -------------------------------------------------
def _reference_reinforce(logits, actions, rewards, baseline, gamma):
    """The loss and its gradients written out: d/dz of -(G_t - b_t) log softmax(z_t)[a_t] is
    -(G_t - b_t) (onehot(a_t) - softmax(z_t)), the score-function gradient; the baseline gets none."""
    z, a = logits.detach().numpy(), actions.numpy()
    advantage = _returns_to_go(rewards.numpy(), gamma) - baseline.detach().numpy()        # (T,)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)                                                     # (T, A)
    log_pi = np.log(p[np.arange(len(a)), a])
    onehot = np.eye(z.shape[1])[a]
    return -(advantage * log_pi).sum(), -advantage[:, None] * (onehot - p), np.zeros(len(a))


def _reinforce_backpropagated(loss_fn, logits, actions, rewards, baseline, gamma):
    torch = _torch()
    loss = loss_fn(logits, actions, rewards, baseline, gamma)
    if loss is None:
        return None, None, None
    if torch.is_tensor(loss) and loss.requires_grad:
        loss.backward()                                    # a plain number has no gradient: zeros below
    grad = lambda x: (x.grad if x.grad is not None else torch.zeros_like(x)).detach().numpy()  # noqa: E731
    return _as_loss(loss), grad(logits), grad(baseline)


def _episode_cases(seed):
    torch = _torch()
    rng = np.random.default_rng(seed + 4)
    cases = []
    for i in range(8):
        T, A = (1 if i == 2 else int(rng.integers(3, 9))), int(rng.integers(2, 5))
        logits = torch.from_numpy(rng.normal(size=(T, A))).requires_grad_(True)   # the policy's output
        baseline = torch.from_numpy(rng.normal(size=T)).requires_grad_(True)      # a value network's output
        rewards = torch.from_numpy(rng.choice([0.0, 1.0, -1.0, 0.5], size=T))
        gamma = [0.9, 0.99, 0.0, 0.5][i % 4]
        cases.append((logits, torch.from_numpy(rng.integers(0, A, size=T)), rewards, baseline, gamma))
    return cases


def reinforce_loss(student, seed: int = 0) -> None:
    """Check ``reinforce_loss(logits, actions, rewards, baseline, gamma)`` -> scalar: ``-sum_t (G_t - b_t)
    log pi(a_t | s_t)`` with discounted returns-to-go G_t; backpropagated, its gradient with respect to the
    logits must equal the score-function gradient, and the baseline must receive none."""
    name = "reinforce_loss"

    def backpropagated(*args):
        return _reinforce_backpropagated(student, *args)

    backpropagated.__name__ = getattr(student, "__name__", name)
    run_check(name, backpropagated, _reference_reinforce, _episode_cases(seed), rtol=1e-8, atol=1e-11,
              arg_names=("logits", "actions", "rewards", "baseline", "gamma"),
              out_names=("the loss", "the gradient with respect to the logits (the score-function gradient)",
                         "the gradient that reaches the baseline (it must stay 0)"),
              hints=("Step t is credited only with what came AFTER it: G_t = r_t + gamma r_{t+1} + gamma^2 "
                     "r_{t+2} + ..., not the whole episode's return. Weight each log pi(a_t | s_t) by G_t - b_t "
                     "and minimise the negative sum (the optimiser DEscends, the policy should ascend). The "
                     "baseline only scales the weights: treat G_t - b_t as a constant (.detach()).",
                     "Compute the returns-to-go backwards, from the last step to the first, with one running sum "
                     "that is discounted once per step before the step's reward is added. log pi(a_t | s_t) is log_softmax(logits, dim=1) at the taken actions "
                     "(gather, or index with torch.arange(T) and actions)."))


# ---- Task 5: the outcome, tabular Q-learning ----------------------------------------------------
GRID = ("...G",
        ".#.P",
        "....",
        "S.P.")
SLIP, STEP_REWARD, GAMMA = 0.2, -0.04, 0.95
EPISODES = 1000                      # the most episodes the student's Q-learning may play
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))          # up, right, down, left


class Gridworld:
    """A slippery 4x4 gridworld. ``reset() -> state``; ``step(action) -> (next_state, reward, done)``.

    States are cells ``row * 4 + col``; actions 0 up, 1 right, 2 down, 3 left. With probability 0.8 the
    intended move happens, otherwise a uniformly random one (it may be the intended one); moves into a wall
    ``#`` or off the grid stay put. Entering the goal ``G`` gives +1, a pit ``P`` gives -1, both end the
    episode; every other step gives -0.04. ``P``, ``R`` and ``terminal`` describe the same MDP as arrays.
    """

    def __init__(self, seed=0):
        self.rows, self.cols = len(GRID), len(GRID[0])
        self.n_states, self.n_actions, self.gamma = self.rows * self.cols, 4, GAMMA
        cells = "".join(GRID)
        self.start = cells.index("S")
        self.terminal = np.array([c in "GP" for c in cells])
        self.reward_in = np.array([{"G": 1.0, "P": -1.0}.get(c, STEP_REWARD) for c in cells])
        self._next = np.array([[self._move(s, a) for a in range(4)] for s in range(self.n_states)])  # (S, A)
        P = np.zeros((self.n_states, 4, self.n_states))
        for s in range(self.n_states):
            for a in range(4):
                for b in range(4):                          # the move that actually happens
                    P[s, a, self._next[s, b]] += (1 - SLIP) * (a == b) + SLIP / 4
        P[self.terminal] = np.eye(self.n_states)[self.terminal][:, None, :]
        self.P, self.R = P, P @ self.reward_in
        self.R[self.terminal] = 0.0
        self.rng, self.state, self.episodes = np.random.default_rng(seed), None, 0

    def _move(self, s, a):
        r, c = divmod(s, self.cols)
        r2, c2 = r + _MOVES[a][0], c + _MOVES[a][1]
        if 0 <= r2 < self.rows and 0 <= c2 < self.cols and GRID[r2][c2] != "#":
            return r2 * self.cols + c2
        return s

    def reset(self):
        self.episodes += 1
        self.state = self.start
        return self.state

    def step(self, action):
        if self.state is None or self.terminal[self.state]:
            raise RuntimeError("the episode has ended: call reset() first")
        if self.rng.random() < SLIP:
            action = int(self.rng.integers(4))
        self.state = int(self._next[self.state, action])
        return self.state, float(self.reward_in[self.state]), bool(self.terminal[self.state])


def gridworld(seed=0):
    """The outcome task's environment (a :class:`Gridworld` whose random slips are seeded with `seed`)."""
    return Gridworld(seed)


def policy_value(env, policy):
    """The exact expected discounted return of a deterministic policy (S,) from every state: the solution of
    U = R_pi + gamma P_pi U, with terminal states worth 0."""
    S = env.n_states
    P_pi = env.P[np.arange(S), policy] * ~env.terminal[None, :]                    # (S, S), no bootstrap
    return np.linalg.solve(np.eye(S) - env.gamma * P_pi, env.R[np.arange(S), policy])


@functools.cache
def optimal_start_value():
    """The optimal expected discounted return from the start (value iteration to convergence)."""
    env = Gridworld()
    U = np.zeros(env.n_states)
    for _ in range(1000):
        U = _reference_backup(env.P, env.R, U, env.gamma, env.terminal)[1]
    return float(U[env.start])


TARGET = 0.45        # the expected discounted return of the greedy policy from the start


def q_learning_outcome(student, seed: int = 0) -> None:
    """Run ``student(env, EPISODES, seed)`` on a fresh :class:`Gridworld`; the greedy policy of the returned
    Q table (S, A) must reach an expected discounted return of at least TARGET from the start (evaluated
    exactly, without sampling), using at most EPISODES episodes."""
    name = "q_learning"
    env = gridworld(seed)
    hints = ("Play episodes with an epsilon-greedy policy (a random action with probability epsilon, else the "
             "best action of your Q table) and after every step move Q[s, a] a fraction alpha towards the TD "
             "target r + gamma max_a' Q[s', a'], without the max term when the step ended the episode.",
             "epsilon = 0.1 and alpha = 0.1 over all the allowed episodes (up to 100 steps each) are enough; "
             "use your own np.random.default_rng(seed) for the epsilon choices and break ties in the argmax "
             "at random or by a small random initial Q, or the agent may never try some actions.")
    Q = call_student(name, student, env, EPISODES, seed)
    Q = np.asarray(Q.detach().cpu().numpy() if hasattr(Q, "detach") else Q, dtype=float)
    if Q.shape != (env.n_states, env.n_actions):
        raise CheckFailed(f"{name} should return the Q table of shape ({env.n_states}, {env.n_actions}), "
                          f"got shape {Q.shape}")
    if env.episodes > EPISODES:
        raise CheckFailed(f"{name} played {env.episodes} episodes (counted by env.reset()); the limit is {EPISODES}.")
    value = float(policy_value(env, Q.argmax(axis=1))[env.start])
    print(f"greedy policy of your Q table after {env.episodes} episodes: expected discounted return {value:.3f} "
          f"from the start (the optimum is {optimal_start_value():.3f})")
    check_outcome(name, value, TARGET, what="expected return of the greedy policy", hints=hints)
