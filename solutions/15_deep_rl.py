# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (dlcourse)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Exercises 15 · Deep reinforcement learning
#
# Five tasks from chapter 15 and three questions. Task 1 writes the Bellman optimality backup for an MDP given
# as arrays, and uses it for value iteration. Tasks 2 and 3 write the heart of DQN in PyTorch: the TD target
# built with a target network, and the loss on the actions that were taken. Task 4 writes the REINFORCE loss
# with a baseline, checked against the score-function gradient. Task 5 is an outcome task: your own tabular
# Q-learning must find a good policy on a slippery gridworld.
#
# Each **check** cell compares your function with a reference on small hand-made and random cases (MDPs as
# NumPy arrays, small float64 PyTorch networks) and names the first thing that is wrong. The PyTorch checks
# also backpropagate your loss and compare the gradients. `check.hint("name")` gives a nudge (call it again for
# a stronger one), and `check.failing_case("name")` returns the inputs of the case that failed, to run your
# function on. Replace every `raise NotImplementedError` with your code.

# %%
import numpy as np
import torch
from torch import nn

import dlcourse
from dlcourse.checks import rl as check

dlcourse.set_threads(1)      # tiny networks and tables: one thread is fastest


# %% [markdown]
# ## Task 1 · The Bellman optimality backup
#
# An MDP with $S$ states and $A$ actions is given as arrays: `P[s, a, s2]` $= P(s' = s_2 \mid s, a)$ of shape
# $(S, A, S)$, and `R[s, a]`, the expected reward of taking action $a$ in state $s$, of shape $(S, A)$.
# `terminal` is a boolean array $(S,)$: an episode ends on entering a terminal state, so a terminal state is
# worth $0$, whatever the current estimate `U` holds there (terminal states are absorbing and reward-free).
# One backup turns an estimate $U$ into
#
# $$ Q(s, a) = R(s, a) + \gamma \sum_{s'} P(s' \mid s, a)\, U(s'), \qquad U_\text{new}(s) = \max_a Q(s, a). $$
#
# `bellman_backup(P, R, U, gamma, terminal)` returns `(Q, U_new)`, NumPy arrays of shapes $(S, A)$ and $(S,)$.
# No loops over states are needed.

# %%
def bellman_backup(P, R, U, gamma, terminal):
    """P: (S, A, S), R: (S, A), U: (S,), terminal: (S,) bool. Returns Q (S, A) and U_new (S,)."""
    ### BEGIN SOLUTION
    U_next = np.where(terminal, 0.0, U)                    # the value of where we land; 0 once the episode ended
    Q = R + gamma * P @ U_next                              # (S, A, S) @ (S,) -> (S, A): expectation over s'
    return Q, Q.max(axis=1)                                 # best action in each state
    ### END SOLUTION


# %% tags=["check"]
check.bellman_backup(bellman_backup)

# %% [markdown]
# ## Use it: value iteration on the slippery gridworld
#
# Task 5's environment is a $4 \times 4$ gridworld (`S` start, `G` goal worth $+1$, `P` pits worth $-1$, `#`
# a wall, $-0.04$ per step); each move slips to a random direction with probability $0.2$. Its arrays are
# `env.P`, `env.R`, `env.terminal`. Repeating your backup until nothing changes is **value iteration**:

# %%
env = check.gridworld()
print("\n".join(check.GRID))
U = np.zeros(env.n_states)
for sweep in range(1, 1001):
    Q, U_new = bellman_backup(env.P, env.R, U, env.gamma, env.terminal)
    change, U = np.abs(U_new - U).max(), U_new
    if change < 1e-10:
        break
arrows = np.array(list("^>v<"))[Q.argmax(axis=1)]
arrows[env.terminal] = "."
arrows[np.array(list("".join(check.GRID))) == "#"] = "#"
print(f"converged after {sweep} sweeps; optimal values and greedy policy:")
print(np.round(U.reshape(4, 4), 3))
print("\n".join(" ".join(row) for row in arrows.reshape(4, 4)))

# %% [markdown]
# ## Task 2 · The DQN target, with a target network
#
# DQN regresses $Q_\theta(s, a)$ onto the TD target of each transition $(s, a, r, s', \text{done})$ of a
# minibatch from the replay buffer:
#
# $$ y = r + \gamma\, (1 - \text{done}) \max_{a'} Q_{\theta^-}(s', a'), $$
#
# computed with the **target network** $Q_{\theta^-}$, an older copy of the online network. The target is a
# label, not part of the model: no gradient may flow through it. `td_targets(rewards, next_states, dones,
# target_net, gamma)` receives float64 tensors `rewards` $(B,)$, `next_states` $(B, d)$, `dones` $(B,)$
# (1.0 where the episode ended, else 0.0) and a network mapping $(B, d)$ states to $(B, A)$ Q values; it
# returns the targets $(B,)$.

# %%
def td_targets(rewards, next_states, dones, target_net, gamma):
    """rewards (B,), next_states (B, d), dones (B,) in {0., 1.}. Returns the targets y (B,), without gradient."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        best_next = target_net(next_states).max(dim=1).values          # max_a' Q_target(s', a'): (B,)
    return rewards + gamma * (1 - dones) * best_next
    ### END SOLUTION


# %% tags=["check"]
check.td_targets(td_targets)

# %% [markdown]
# ## Task 3 · The DQN loss on the taken actions
#
# The network outputs a Q value for every action, but each transition says something only about the action
# $a$ that was taken. `dqn_loss(online_net, target_net, states, actions, rewards, next_states, dones, gamma)`
# returns the mean squared TD error over the batch,
#
# $$ \mathcal{L}(\theta) = \frac{1}{B} \sum_{i} \big(Q_\theta(s_i, a_i) - y_i\big)^2, $$
#
# a scalar tensor whose gradient reaches the online network only (`actions` is an int64 tensor $(B,)$). The
# check calls `.backward()` on it and compares the gradients of both networks. You may use your `td_targets`.

# %%
def dqn_loss(online_net, target_net, states, actions, rewards, next_states, dones, gamma):
    """states (B, d), actions (B,) int64, rewards (B,), next_states (B, d), dones (B,). Returns a scalar loss."""
    ### BEGIN SOLUTION
    q_taken = online_net(states).gather(1, actions[:, None]).squeeze(1)    # Q(s_i, a_i): (B,)
    return nn.functional.mse_loss(q_taken, td_targets(rewards, next_states, dones, target_net, gamma))
    ### END SOLUTION


# %% tags=["check"]
check.dqn_loss(dqn_loss)

# %% [markdown]
# ## Task 4 · The REINFORCE loss with a baseline
#
# A policy network gives the logits $z_t$ of $\pi(\cdot \mid s_t) = \operatorname{softmax}(z_t)$ at every
# step of an episode of length $T$. REINFORCE credits each action with the discounted return that **followed**
# it (the return-to-go) minus a baseline $b_t$ (e.g. a value network's estimate of $U(s_t)$):
#
# $$ G_t = \sum_{k=t}^{T-1} \gamma^{k-t} r_k, \qquad
#    \mathcal{L} = -\sum_{t=0}^{T-1} \big(G_t - b_t\big) \log \pi(a_t \mid s_t). $$
#
# Its gradient is the score-function estimate of $-\nabla J$ (no extra factor $\gamma^t$, as in most
# implementations). The baseline only reduces the variance: no gradient may flow into it through this loss.
# `reinforce_loss(logits, actions, rewards, baseline, gamma)` receives float64 tensors `logits` $(T, A)$,
# `actions` $(T,)$ int64, `rewards` $(T,)$ and `baseline` $(T,)$ (both `logits` and `baseline` require
# gradients) and returns the scalar $\mathcal{L}$. The check compares the gradient with respect to the logits
# with the score-function gradient written out, $-(G_t - b_t)\,(\text{onehot}(a_t) - \pi(\cdot \mid s_t))$.

# %%
def reinforce_loss(logits, actions, rewards, baseline, gamma):
    """logits (T, A), actions (T,) int64, rewards (T,), baseline (T,). Returns the scalar REINFORCE loss."""
    ### BEGIN SOLUTION
    returns, running = torch.zeros_like(rewards), 0.0
    for t in reversed(range(len(rewards))):                 # G_t = r_t + gamma G_{t+1}, from the end
        running = rewards[t] + gamma * running
        returns[t] = running
    advantage = (returns - baseline).detach()               # a weight, not a path for gradients
    log_pi = torch.log_softmax(logits, dim=1).gather(1, actions[:, None]).squeeze(1)   # (T,)
    return -(advantage * log_pi).sum()
    ### END SOLUTION


# %% tags=["check"]
check.reinforce_loss(reinforce_loss)

# %% [markdown]
# ## Use it: what the baseline does to the gradient
#
# A one-step bandit: two actions with rewards around $+1$ and $+1.2$. Every sampled reward is positive, so
# without a baseline every sampled action is pushed up and only the sizes of the pushes tell the better one.
# Compare the spread of the single-episode gradient estimates with and without a baseline (the mean reward):

# %%
rng = np.random.default_rng(0)
logits = torch.zeros(1, 2, requires_grad=True)
grads = {"no baseline": [], "baseline 1.1": []}
for _ in range(2000):
    a = int(rng.integers(2))                                 # the policy is uniform: pi(a) = 1/2
    r = torch.tensor([1.0 + 0.2 * a + 0.1 * rng.normal()])
    for label, b in (("no baseline", 0.0), ("baseline 1.1", 1.1)):
        logits.grad = None
        reinforce_loss(logits, torch.tensor([a]), r, torch.tensor([b]), 1.0).backward()
        grads[label].append(-logits.grad[0, 1].item())       # the ascent direction for action 1's logit
for label, g in grads.items():
    print(f"{label:13s}: mean gradient {np.mean(g):.3f}, standard deviation {np.std(g):.3f}")

# %% [markdown]
# ## Task 5 · Outcome: tabular Q-learning on the slippery gridworld
#
# `q_learning(env, episodes, seed)` plays at most `episodes` episodes on `env` (`s = env.reset()` starts one;
# `s2, r, done = env.step(a)` takes an action; stop an episode after 100 steps if it has not ended) and
# returns the learned Q table, an array $(S, A)$ = `(env.n_states, env.n_actions)`, with discount `env.gamma`.
# The check evaluates the greedy policy of your table **exactly** (by solving the Bellman equation of that
# policy with the MDP's arrays) and requires an expected discounted return from the start of at least
# **0.45**; value iteration above gives the optimum. The check allows 1000 episodes; keep it under a few seconds.

# %%
def q_learning(env, episodes, seed=0):
    """Tabular Q-learning with an epsilon-greedy policy. Returns Q (env.n_states, env.n_actions)."""
    ### BEGIN SOLUTION
    rng, epsilon, alpha = np.random.default_rng(seed), 0.1, 0.1
    Q = rng.uniform(0, 1e-3, size=(env.n_states, env.n_actions))      # tiny random values break ties
    for _ in range(episodes):
        s = env.reset()
        for _ in range(100):
            a = int(rng.integers(env.n_actions)) if rng.random() < epsilon else int(Q[s].argmax())
            s2, r, done = env.step(a)
            target = r if done else r + env.gamma * Q[s2].max()       # no bootstrap after the last step
            Q[s, a] += alpha * (target - Q[s, a])
            s = s2
            if done:
                break
    return Q
    ### END SOLUTION


# %% tags=["check"]
check.q_learning_outcome(q_learning)

# %% [markdown]
# ## Think
#
# Answer each question in two or three sentences in the cell below it, then open the discussion.
#
# **(1)** In Task 3 the targets come from a separate, older target network and carry no gradient. What goes
# wrong if the online network computes its own targets and the gradient flows through them?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Then every update moves the label together with the prediction: raising $Q_\theta(s, a)$ also raises
# $\max_{a'} Q_\theta(s', a')$ for similar states, so the regression chases a moving target and can
# oscillate or diverge, and overestimates feed on themselves. Letting the gradient flow through the target
# also changes the objective: it shrinks the TD error by moving $Q(s')$ towards $Q(s)$ as much as the other
# way round (a residual-gradient method), which is not what value iteration does. A frozen copy, updated
# every few thousand steps, turns each phase into an ordinary supervised regression.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Function approximation, bootstrapping and off-policy data together form the "deadly triad" of Sutton and
# Barto: each is harmless alone, together they can diverge. DQN tames it with the target network (slower
# bootstrapping) and the replay buffer (decorrelated, reused data); Double DQN further reduces the
# overestimation of the max by choosing $a'$ with the online network and evaluating it with the target
# network. Soft updates $\theta^- \leftarrow \tau\theta + (1 - \tau)\theta^-$ are a smooth alternative to copies.
# </details>

# %% [markdown]
# **(2)** Your "Use it" cell after Task 4 measured the single-episode gradient with and without a baseline.
# Why does subtracting a baseline not bias the gradient, and why does it reduce its variance here?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# The expected score is zero: $\mathbb{E}_{a \sim \pi}[\nabla \log \pi(a \mid s)] = \sum_a \nabla \pi(a \mid s)
# = \nabla 1 = 0$, so a baseline that does not depend on the action adds nothing in expectation, and the
# means printed with and without it agree. Without it every reward here is positive, so each sample pushes
# up whichever action was sampled, by a large amount, and only the small difference between the rewards
# survives on average; with $b$ near the mean reward the weights $r - b$ are small and signed (the better
# action up, the worse down), so the standard deviation drops by an order of magnitude.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# The best baseline is close to the expected return from the state, $U^\pi(s_t)$, learnt by a value network
# (critic): $G_t - U(s_t)$ estimates the advantage $A(s_t, a_t)$. Actor-critic methods replace $G_t$ itself by
# a bootstrapped estimate $r_t + \gamma U(s_{t+1})$, trading more bias for less variance, and PPO/A2C
# normalise the advantages per batch. A baseline that depends on the action would bias the gradient.
# </details>

# %% [markdown]
# **(3)** Task 1's backup needs `P` and `R`; Q-learning in Task 5 never looks at them. What does each approach
# need from the world, and when would you prefer planning with a model (as AlphaGo's tree search does)?

# %% [markdown] tags=["answer"]
# ### BEGIN SOLUTION
# Value iteration is planning: it needs the full model (every transition probability and expected reward)
# and then computes the optimal values without acting at all. Q-learning is model-free: it needs only samples
# $(s, a, r, s')$ from interacting with the world, replacing the expectation over $s'$ by single samples
# averaged over time, at the price of many episodes and exploration. A model pays off when it is known or
# cheap to learn and acting is expensive or risky: in games like Go the rules are a perfect simulator, so
# tree search can look ahead from the current position and correct a learnt value and policy network.
# ### END SOLUTION

# %% [markdown]
# <details><summary>Discussion</summary>
#
# Model-based RL sits between the two: learn $P$ and $R$ (or a latent dynamics model, as MuZero and Dreamer
# do) from samples, then plan in the learnt model. It is far more sample-efficient when the model is good,
# but planning exploits the model's errors. AlphaGo combines all three families: a policy network proposes
# moves, a value network judges positions, and Monte Carlo tree search plans with the game's exact rules.
# </details>
