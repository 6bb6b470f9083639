"""Print a deterministic redis-cli session (one command per line) for
scripts/test-foreign-allocator.sh: a few thousand keys of strings, lists,
hashes, sets and sorted sets, values from a few bytes to ~1 MB, reads of
all kinds whose replies do not depend on the allocator or on time, then
FLUSHALL.  The replies of a plain run and of a run under zslab must be
byte-identical."""
import sys

out = []
w = out.append
w("FLUSHALL")
w("DBSIZE")
for i in range(3000):
    n = 10 + (i * 7919) % 2000
    w("SET key:%d %s" % (i, ("v%d-" % i) * (n // 6 + 1)))
for i in range(0, 3000, 7):
    w("GET key:%d" % i)
w("MGET " + " ".join("key:%d" % i for i in range(1, 60)) + " nokey")
for i in range(200):
    w("INCRBY counter:%d %d" % (i % 10, i))
for i in range(10):
    w("GET counter:%d" % i)
w("APPEND key:5 -appended")
w("STRLEN key:5")
w("GETRANGE key:5 -12 -1")
for j in range(10):
    w("SETRANGE big:%d %d end" % (j, 300000 + j * 50000))
    w("STRLEN big:%d" % j)
    w("SETRANGE big:%d 0 hello-%d" % (j, j))
    w("APPEND big:%d tail" % j)
    w("GETRANGE big:%d 0 9" % j)
    w("GETRANGE big:%d -7 -1" % j)
chunk = "0123456789abcdef" * 640  # 10 KB
for k in range(100):
    w("APPEND huge %s" % chunk)
w("STRLEN huge")
w("GETRANGE huge 1048570 1048575")
for l in range(5):
    for start in range(0, 1000, 100):
        w("RPUSH list:%d " % l + " ".join("item-%d-%d-%s" % (l, i, "x" * (i % 40)) for i in range(start, start + 100)))
    w("LLEN list:%d" % l)
    w("LRANGE list:%d 0 9" % l)
    w("LRANGE list:%d -5 -1" % l)
    w("LINDEX list:%d 500" % l)
    w("LPOP list:%d 3" % l)
    w("RPOP list:%d" % l)
    w("OBJECT ENCODING list:%d" % l)
w("LTRIM list:0 0 99")
w("LLEN list:0")
w("LPUSH small-list a b c")
w("OBJECT ENCODING small-list")
for h in range(5):
    for start in range(0, 1000, 200):
        w("HSET hash:%d " % h + " ".join("f%d v%d-%s" % (i, i * h, "y" * (i % 30)) for i in range(start, start + 200)))
    w("HLEN hash:%d" % h)
    w("HGET hash:%d f17" % h)
    w("HMGET hash:%d f1 f2 f999 nofield" % h)
    w("HDEL hash:%d f1 f2 nofield" % h)
    w("HEXISTS hash:%d f1" % h)
    w("HINCRBY hash:%d counter %d" % (h, h + 5))
    w("HSTRLEN hash:%d f29" % h)
    w("OBJECT ENCODING hash:%d" % h)
w("HSET small-hash a 1 b 2")
w("HGETALL small-hash")
w("SADD set:0 " + " ".join("m%d" % i for i in range(1000)))
w("SCARD set:0")
w("SISMEMBER set:0 m5")
w("SISMEMBER set:0 zz")
w("SREM set:0 m1 m2 m3")
w("SCARD set:0")
w("SADD intset 5 3 1 4 2")
w("SMEMBERS intset")
w("ZADD zset:0 " + " ".join("%d member-%d" % ((i * 37) % 1000, i) for i in range(1000)))
w("ZCARD zset:0")
w("ZRANGE zset:0 0 9 WITHSCORES")
w("ZRANGEBYSCORE zset:0 10 20")
w("ZSCORE zset:0 member-7")
w("ZRANK zset:0 member-7")
w("ZINCRBY zset:0 1000 member-7")
w("ZREVRANGE zset:0 0 4 WITHSCORES")
w("EXISTS key:1 key:2 nokey")
w("DEL key:1 key:2 key:3 nokey")
w("TYPE list:1")
w("TYPE hash:1")
w("TYPE set:0")
w("TYPE zset:0")
w("EXPIRE key:10 100000")
w("PERSIST key:10")
w("RENAME key:11 renamed")
w("GET renamed")
w("DBSIZE")
w("FLUSHALL")
w("DBSIZE")
w("PING")
sys.stdout.write("\n".join(out) + "\n")
