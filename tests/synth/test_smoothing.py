import numpy as np

from synth.sources.common import smooth_track


def test_smoothing_equals_a_least_squares_cubic_per_window_with_the_end_windows_evaluated_off_centre():
    rng = np.random.default_rng(3)
    T, window, dt = 60, 21, 0.1
    x = np.cumsum(rng.normal(1.0, 0.1, T)) + rng.normal(0, 0.03, T)
    valid = np.ones(T, bool)
    valid[40] = False                          # runs [0, 40) filtered, [41, 60) shorter than the window: kept
    vx = rng.normal(size=T)
    sx, _, svx, _ = smooth_track(x, np.zeros(T), vx, np.zeros(T), valid, dt, window=window, order=3)
    half, t = window // 2, np.arange(40)
    for i in range(40):
        lo = min(max(i - half, 0), 40 - window)
        poly = np.polynomial.Polynomial.fit(t[lo:lo + window], x[lo:lo + window], 3)
        assert abs(sx[i] - poly(i)) < 1e-9 and abs(svx[i] - poly.deriv()(i) / dt) < 1e-8
    assert np.array_equal(sx[41:], x[41:]) and np.array_equal(svx[41:], vx[41:]) and sx[40] == x[40]  # the invalid frame is left as it was
