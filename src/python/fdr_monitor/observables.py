"""The FDR observables of one optimizer step, reduced on the parameters' device.

The parameters an optimizer steps are treated as one flat vector θ (the order
of ``opt.param_groups``, then each group's ``params``; parameters without a
gradient are left out, as the optimizer skips them). That vector is never
concatenated: it is cut into chunks of at most ``chunk`` elements, each chunk
made of pieces (slices of the flattened parameter tensors, views without
copy), and every reduction runs chunk by chunk in float64 scratch buffers
allocated once:

* products of two float32 numbers are exact in float64, and the sums are
  float64, so the pathwise identity of docs/math.md §4 holds to float64
  rounding, not float32 rounding;
* θ_t − c is computed directly (docs/protocol.md, "Centres": expanding
  |θ − c|² = |θ|² − 2c·θ + |c|² cancels catastrophically);
* the memory kept is the θ_t copy (Δ_t = θ_{t+1} − θ_t needs it: the
  optimizer overwrites θ) and the two centres, all float32: 3× the parameters,
  plus the scratch rows (a fixed few chunks, independent of the model size).

Nothing here synchronises with the host: the results stay on the device in
one float64 vector that the caller reads with one ``.tolist()`` per step.
"""

import torch

__all__ = ["FlatLayout", "Reducer", "DEFAULT_CHUNK_CPU", "DEFAULT_CHUNK_CUDA"]

# Chunk length (elements). On the CPU a chunk's float64 rows stay in cache;
# on a GPU few, large kernels are what matters.
DEFAULT_CHUNK_CPU = 1 << 16
DEFAULT_CHUNK_CUDA = 1 << 22


class FlatLayout:
    """Where each parameter sits in the flat vector θ, cut into chunks.

    ``params`` is the ordered list of parameter tensors; ``wd`` the coupled
    weight decay λ of each (0 when the optimizer has none or decouples it).
    """

    def __init__(self, params, wd, chunk):
        if not params:
            raise ValueError("no parameter has a gradient: nothing to monitor")
        self.params = list(params)
        self.sizes = [p.numel() for p in self.params]
        self.n = sum(self.sizes)
        self.device = self.params[0].device
        self.dtype = self.params[0].dtype
        for p in self.params:
            if p.device != self.device:
                raise ValueError("all parameters must be on one device (found %s and %s)" % (self.device, p.device))
            if not p.is_floating_point():
                raise ValueError("parameter of dtype %s: only floating-point parameters can be monitored" % (p.dtype,))
        self.chunk = max(1, int(chunk))
        # chunks[k] = (offset, length, [(param index, start, end, offset within the chunk), …])
        self.chunks = []
        pieces, off, filled = [], 0, 0
        for i, size in enumerate(self.sizes):
            s = 0
            while s < size:
                take = min(size - s, self.chunk - filled)
                pieces.append((i, s, s + take, filled))
                s += take
                filled += take
                if filled == self.chunk:
                    self.chunks.append((off, filled, pieces))
                    off, pieces, filled = off + filled, [], 0
        if filled:
            self.chunks.append((off, filled, pieces))
        # Coupled weight decay per chunk: one scalar when the chunk is uniform, else a vector.
        self.chunk_wd = []
        for off, length, pcs in self.chunks:
            lams = {float(wd[i]) for i, _, _, _ in pcs}
            if len(lams) == 1:
                self.chunk_wd.append(lams.pop())
            else:
                v = torch.empty(length, dtype=torch.float64, device=self.device)
                for i, a, b, o in pcs:
                    v[o:o + b - a] = float(wd[i])
                self.chunk_wd.append(v)

    def key(self):
        return tuple(id(p) for p in self.params)


def _flat(t):
    """The tensor as a flat view (a copy only when it is not contiguous)."""
    return t.detach().reshape(-1)


class Reducer:
    """Computes the step's dot products, chunk by chunk (see the module docstring).

    Rows of the matrix X are θ_t and θ_t − c for each centre c (docs/protocol.md
    "Centres"); per step, in float64 on the device:

    before ``opt.step()``:  X·g_t, X·buf_t, |X|² per row, |g_t|²
    after  ``opt.step()``:  X·Δ_t per row, |Δ_t|², |buf_{t+1}|²

    with g_t = ∇f_B(θ_t) + λθ_t (coupled weight decay, docs/math.md §2) and
    Δ_t = θ_{t+1} − θ_t the update actually applied.
    """

    MAX_CENTERS = 2

    def __init__(self, layout):
        self.layout = layout
        dev, L = layout.device, min(layout.chunk, layout.n)
        rows = 1 + self.MAX_CENTERS
        f64 = dict(dtype=torch.float64, device=dev)
        self.X = torch.empty(rows, L, **f64)  # θ_t, θ_t − c_1, θ_t − c_2 (one chunk)
        self.P = torch.empty(rows, L, **f64)  # products
        self.V = torch.empty(L, **f64)  # g_t, then buf_t; Δ_t, then buf_{t+1}
        # θ_t, kept through opt.step() (the optimizer overwrites the parameters in place).
        self.theta_t = torch.empty(layout.n, dtype=layout.dtype, device=dev)
        self._x_valid = False

    # -- gathering one chunk of a per-parameter quantity into a float64 row --------------------
    def _gather(self, dst, pieces, tensors):
        """dst[o:o+len] ← tensors[i].flat[a:b] for each piece (missing tensors give 0)."""
        for i, a, b, o in pieces:
            t = tensors[i]
            if t is None:
                dst[o:o + b - a].zero_()
            else:
                dst[o:o + b - a].copy_(_flat(t)[a:b])

    def _rows(self, off, length, centers):
        """X[0] = θ_t, X[1+k] = θ_t − c_k over this chunk (from the saved θ_t copy)."""
        X = self.X
        X[0, :length].copy_(self.theta_t[off:off + length])
        for k, c in enumerate(centers):
            torch.sub(X[0, :length], c[off:off + length], out=X[1 + k, :length])

    def _dots(self, rows, length, v, out):
        """out += Σ over the chunk of X[r]·v, r < rows (float64)."""
        P = self.P[:rows, :length]
        torch.mul(self.X[:rows, :length], v[:length], out=P)
        out.add_(P.sum(dim=1))

    def _sq(self, v, length, out):
        torch.mul(v[:length], v[:length], out=self.P[0, :length])
        out.add_(self.P[0, :length].sum())

    def before_step(self, grads, bufs, centers):
        """Reductions that need θ_t and buf_t (call before ``opt.step()``).

        grads: p.grad per parameter (without weight decay); bufs: buf_t per
        parameter or None (no momentum buffer yet: buf_t = 0); centers: flat
        float32 snapshots, at most two. Returns float64 device tensors.
        """
        lay, R = self.layout, 1 + len(centers)
        f64 = dict(dtype=torch.float64, device=lay.device)
        xg, xb, xx, gg = torch.zeros(R, **f64), torch.zeros(R, **f64), torch.zeros(R, **f64), torch.zeros((), **f64)
        params = lay.params
        V = self.V
        for (off, length, pieces), lam in zip(lay.chunks, lay.chunk_wd):
            # θ_t: saved (float32, exact) and the rows of X.
            for i, a, b, o in pieces:
                self.theta_t[off + o:off + o + b - a].copy_(_flat(params[i])[a:b])
            self._rows(off, length, centers)
            # g_t = ∇f + λθ_t
            self._gather(V, pieces, grads)
            if isinstance(lam, torch.Tensor):
                V[:length].addcmul_(lam, self.X[0, :length])
            elif lam != 0.0:
                V[:length].add_(self.X[0, :length], alpha=lam)
            self._dots(R, length, V, xg)
            self._sq(V, length, gg)
            torch.mul(self.X[:R, :length], self.X[:R, :length], out=self.P[:R, :length])
            xx.add_(self.P[:R, :length].sum(dim=1))
            if bufs is not None:
                self._gather(V, pieces, bufs)
                self._dots(R, length, V, xb)
        self._x_valid = len(lay.chunks) == 1
        return dict(theta_dot_grad=xg, theta_dot_buf=xb if bufs is not None else None, param_sq=xx, grad_sq=gg)

    def after_step(self, bufs_next, centers):
        """Reductions that need θ_{t+1} and buf_{t+1} (call after ``opt.step()``).

        bufs_next: buf_{t+1} per parameter, or None when the optimizer has no
        buffer the stream describes (then no buf_sq).
        """
        lay, R = self.layout, 1 + len(centers)
        f64 = dict(dtype=torch.float64, device=lay.device)
        xd, dd, qq = torch.zeros(R, **f64), torch.zeros((), **f64), torch.zeros((), **f64)
        params = lay.params
        V = self.V
        for off, length, pieces in lay.chunks:
            if not self._x_valid:
                self._rows(off, length, centers)
            # Δ_t = θ_{t+1} − θ_t, exact in float64.
            self._gather(V, pieces, params)
            V[:length].sub_(self.X[0, :length])
            self._dots(R, length, V, xd)
            self._sq(V, length, dd)
            if bufs_next is not None:
                self._gather(V, pieces, bufs_next)
                self._sq(V, length, qq)
        self._x_valid = False
        return dict(theta_dot_update=xd, update_sq=dd, buf_sq=qq if bufs_next is not None else None)

    def snapshot(self, into=None):
        """A centre c = θ_t (flat float32 copy of the parameters now)."""
        lay = self.layout
        c = into if into is not None else torch.empty(lay.n, dtype=lay.dtype, device=lay.device)
        for off, length, pieces in lay.chunks:
            for i, a, b, o in pieces:
                c[off + o:off + o + b - a].copy_(_flat(lay.params[i])[a:b])
        return c
