"""Generate the SQL script for the sqlite3 workload of the zslab harness.

usage: python3 gen_sqlite_sql.py ROWS OUTFILE

The script (run as `sqlite3 :memory: < OUTFILE`, so the page cache lives in
malloc'd memory) creates a table, inserts ROWS rows as individual INSERT
statements inside one transaction (each statement is parsed and prepared,
which is malloc-heavy), creates two indexes, runs a few aggregate / sort /
join queries, an UPDATE and a DELETE.  The text is deterministic (fixed
seed), so every allocator executes exactly the same statements.
"""

import random
import sys

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
         "hotel", "india", "juliet", "kilo", "lima", "mike", "november"]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gen_sqlite_sql.py ROWS OUTFILE")
    rows = int(sys.argv[1])
    rng = random.Random(777)
    with open(sys.argv[2], "w") as f:
        w = f.write
        w("PRAGMA cache_size=-65536;\n")
        w("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL, payload TEXT);\n")
        w("BEGIN;\n")
        for i in range(rows):
            name = rng.choice(WORDS) + "_" + str(rng.randint(0, rows // 4))
            payload = "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
            w(f"INSERT INTO t(name,grp,val,payload) VALUES('{name}',{rng.randint(0, 999)},"
              f"{rng.random() * 1000:.4f},'{payload}');\n")
        w("COMMIT;\n")
        w("CREATE INDEX t_grp ON t(grp);\n")
        w("CREATE INDEX t_name ON t(name);\n")
        w("SELECT 'groups', count(*) FROM (SELECT grp, count(*), avg(val), "
          "sum(length(payload)) FROM t GROUP BY grp);\n")
        w("SELECT 'distinct_names', count(DISTINCT name) FROM t;\n")
        w("SELECT 'top', name, val FROM t ORDER BY val DESC LIMIT 5;\n")
        w("SELECT 'sorted_payload', count(*) FROM (SELECT payload FROM t ORDER BY payload, name);\n")
        w("SELECT 'join', count(*) FROM t a JOIN t b ON a.name = b.name AND a.id < b.id "
          "WHERE a.grp < 100;\n")
        w("SELECT 'like', count(*) FROM t WHERE payload LIKE '%echo%golf%';\n")
        w("UPDATE t SET payload = payload || name WHERE grp % 7 = 0;\n")
        w("DELETE FROM t WHERE grp % 5 = 0;\n")
        w("SELECT 'remaining', count(*), sum(length(payload)) FROM t;\n")


if __name__ == "__main__":
    main()
