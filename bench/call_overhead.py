"""Python call overhead: net.logits against the C++-timed forward, 0.25/128, one thread."""
import numpy as np, mobilenet, time
net = mobilenet.MobileNetV1(alpha=0.25, resolution=128, threads=1)
x = np.random.default_rng(0).standard_normal((1,128,128,3)).astype(np.float32)
e = net._engine
def t(f, n=3000):
    for _ in range(100): f()
    ts=[]
    for _ in range(n):
        t0=time.perf_counter_ns(); f(); ts.append(time.perf_counter_ns()-t0)
    ts=np.array(ts)/1e3; return ts.min(), np.percentile(ts, 10)
for rep in range(2):
    print("net.logits       min %.1f p10 %.1f us" % t(lambda: net.logits(x)))
    print("engine check     min %.1f p10 %.1f us" % t(lambda: e.forward(x, "NHWC", False, True)))
    print("engine nocheck   min %.1f p10 %.1f us" % t(lambda: e.forward(x, "NHWC", False, False)))
    r = e.profile(x, "NHWC", False, 3000, 100)["total_ns"]/1e3
    print("C++ total        min %.1f p10 %.1f us" % (r.min(), np.percentile(r,10)))
    print("prepare only     min %.1f p10 %.1f us" % t(lambda: net._prepare(x, "NHWC")))
