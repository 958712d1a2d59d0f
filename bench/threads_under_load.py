"""Thread scaling, quiet and with a busy-looping process beside us: python bench/threads_under_load.py [hog]."""
import numpy as np, time, mobilenet, subprocess, sys
hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if "hog" in sys.argv else None
try:
    for a,r in [(1.0,224),(0.5,192),(0.25,128)]:
        net = mobilenet.MobileNetV1(alpha=a, resolution=r, threads=1)
        x = np.zeros((1,r,r,3),np.float32)
        res = {}
        for t in (1,2,1,2):
            net.set_threads(t)
            for _ in range(10): net.logits(x)
            n = max(20, int(100 * 224*224/(r*r) / a))
            w0=time.perf_counter(); c0=time.process_time()
            for _ in range(n): net.logits(x)
            res.setdefault(t, []).append(((time.perf_counter()-w0)/n*1e3, (time.process_time()-c0)/n*1e3))
        print(f"{a}/{r}: " + "  ".join(f"t{t} wall {min(v)[0]:.3f} ms (cpu {min(v)[1]:.3f})" for t, v in res.items()))
finally:
    if hog: hog.kill()
