"""Write the input of the text-tools workload (sort/awk/join/...) to stdout.

N lines of comma-separated records: id, key, amount, word list.
Deterministic (fixed seed); runs without LD_PRELOAD.
Usage: gen_lines.py N
"""

import random
import sys

rng = random.Random(99)
words = ["w%03d" % i for i in range(400)]
out = sys.stdout
for i in range(int(sys.argv[1])):
    key = "k%05d" % int(rng.paretovariate(1.2) * 10 % 30000)
    out.write("%d,%s,%d,%s\n" % (rng.randrange(10**7), key, rng.randrange(-5000, 5000),
                                 " ".join(rng.choices(words, k=rng.randint(1, 12)))))
