"""From recorded steps to compared layers: shortcuts moved next to their addition, parallel
branches put in the order torch.cat stacks them, activations and dropout attached to the layer
they follow."""

from __future__ import annotations

from ._steps import LAYER_KINDS, MONOTONIC, Layer, Step


def _walk(steps: list[Step], start) -> list:
    """Producer chain from step ``start`` back to the input (-1), following first inputs."""
    chain, seen = [], set()
    while start is not None and start not in seen:
        chain.append(start)
        if start == -1:
            break
        seen.add(start)
        srcs = steps[start].srcs
        start = srcs[0] if srcs else None
    return chain


def _stacking_order(steps: list[Step], order: list[int], cats) -> list[int]:
    """Branches that fork from one tensor and meet in a torch.cat, read in the order the cat
    stacks them: that order decides the output, the order forward runs them does not."""
    for srcs in cats:
        if len(srcs) < 2 or any(s is None for s in srcs):
            continue
        walks = [_walk(steps, s) for s in srcs]
        fork = next((j for j in walks[0] if all(j in w for w in walks[1:])), None)
        if fork is None:
            continue
        chains = [set(w[:w.index(fork)]) for w in walks]
        if sum(map(len, chains)) != len(set().union(*chains)):
            continue  # branches share layers: not parallel
        stacked = [j for chain in chains for j in order if j in chain]
        if not stacked:
            continue
        at = min(order.index(j) for j in stacked)
        rest = [j for j in order if j not in set(stacked)]
        order = rest[:at] + stacked + rest[at:]
    return order


def group_layers(steps: list[Step], cats=()) -> list[Layer]:
    """The compared layers of a pass, in the order the comparison reads them. ``cats``: the
    producing step of each tensor of every torch.cat, in the order it was called."""
    order = [i for i, s in enumerate(steps) if s.kind in LAYER_KINDS]
    shortcut: set[int] = set()
    for i in order:
        step = steps[i]
        if step.kind != "add" or len(step.srcs) < 2:
            continue
        walk_a, walk_b = _walk(steps, step.srcs[0]), _walk(steps, step.srcs[1])
        in_b = set(walk_b)
        fork = next((j for j in walk_a if j in in_b), None)
        if fork is None:
            continue
        chain_a = walk_a[:walk_a.index(fork)]
        chain_b = walk_b[:walk_b.index(fork)]

        def weight(chain):
            return sum(steps[j].kind in ("conv", "linear") for j in chain)
        side = chain_b if weight(chain_b) <= weight(chain_a) else chain_a
        side_layers = [j for j in order if j in set(side) and j != i]
        shortcut.update(side_layers)
        # Move the shortcut's layers to just before the addition, in execution order.
        order = [j for j in order if j not in side_layers]
        at = order.index(i)
        order[at:at] = side_layers
    order = _stacking_order(steps, order, cats)
    layers = {i: Layer(steps[i], shortcut=i in shortcut) for i in order}

    def owner(j):
        """The compared layer an activation or dropout at step j follows."""
        src = steps[j].srcs[0] if steps[j].srcs else None
        seen = set()
        while src is not None and src != -1 and src not in seen:
            seen.add(src)
            if src in layers:
                return src
            src = steps[src].srcs[0] if steps[src].srcs else None
        return None

    for j, step in enumerate(steps):
        if step.kind not in ("act", "dropout"):
            continue
        k = owner(j)
        if k is None:
            continue
        if step.kind == "dropout":
            layers[k].drop_steps.append(step)
            continue
        act = step.attrs["act"]
        # An activation after a max-pool counts as following the layer before the pool.
        while layers[k].kind == "maxpool" and act in MONOTONIC:
            before = owner(k)
            if before is None:
                break
            k = before
        if not layers[k].after or layers[k].after[-1] != act:  # relu(relu(x)) == relu(x)
            layers[k].after += (act,)
        layers[k].act_steps.append(step)
    return [layers[i] for i in order]
