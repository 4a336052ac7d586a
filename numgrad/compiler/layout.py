"""Loop layout facts shared by the planning passes (row pipelines, lanes) and the emitters.

The coalesced iteration space of a fused group and which dims each access indexes
(:func:`layout`), and the loop sizes at which kernels turn vectorised (VECTOR_MIN) and
parallel (PARALLEL_MIN).  Planning passes import these from here, never from an emitter.
"""


def _aligned_mask(shape, space):
    r = len(space)
    aligned = (1,) * (r - len(shape)) + tuple(shape)
    return [a != 1 or s == 1 for a, s in zip(aligned, space)]


def coalesce(space, masks):
    """Drop size-1 dims and merge neighbours every mask treats alike."""
    keep = [k for k, d in enumerate(space) if d != 1]
    dims, cols = [], []
    for k in keep:
        col = tuple(m[k] for m in masks)
        if dims and cols[-1] == col:
            dims[-1] *= space[k]
        else:
            dims.append(space[k])
            cols.append(col)
    if not dims:
        dims, cols = [1], [tuple(True for _ in masks)]
    new_masks = [[c[i] for c in cols] for i in range(len(masks))]
    return dims, new_masks


VECTOR_MIN = 1 << 12    # iteration spaces this large call vecmath's vectorisable math
PARALLEL_MIN = 1 << 15  # ... and this large, chunks that threads can share


def layout(group, gather_masks=None):
    """The coalesced loop dims of `group` and, per load / output / reduction, which of them it
    indexes (a reduction: which it keeps).  A gathered load (group.gathered) adds two masks,
    the dims that index its indices and those that index its params' tail, so that coalescing
    never merges the two; they are stored in `gather_masks` (load index -> (imask, tmask))."""
    space = group.space
    masks = [_aligned_mask(v.shape, space) for v in group.loads]
    masks += [_aligned_mask(v.shape, space) for v in group.outputs]   # row stages: (n0, 1)
    for r in group.reductions:
        axes = r.attrs["axis"]
        axes = range(len(space)) if axes is None else axes
        masks.append([k not in axes for k in range(len(space))])
    by_id = getattr(group, "gathered", {})
    gathered = [(j, v) for j, v in enumerate(group.loads) if v.id in by_id]
    for j, v in gathered:
        params, indices, _ = by_id[v.id]
        first = len(space) - len(v.shape)            # v's dims are the space's last ones
        n_index = len(indices.shape)
        m = masks[j]
        masks.append([first <= k < first + n_index and m[k] for k in range(len(space))])
        masks.append([k >= first + n_index and m[k] for k in range(len(space))])
    dims, cmasks = coalesce(space, masks)
    nl, no, nr = len(group.loads), len(group.outputs), len(group.reductions)
    if gather_masks is not None:
        extra = cmasks[nl + no + nr:]
        for g, (j, _) in enumerate(gathered):
            gather_masks[j] = (extra[2 * g], extra[2 * g + 1])
    return dims, cmasks[:nl], cmasks[nl:nl + no], cmasks[nl + no:nl + no + nr]
