"""Compare run folders made by scripts/reference_runs.sh on two versions of the code: journal rows and summary.json
without their timings (and schema_version), then best_spec.json, the int8 model, export.json and every firmware file
byte for byte.

    python scripts/compare_runs.py BEFORE_DIR AFTER_DIR default 4class loso multitask
"""
import hashlib, json, sys
from pathlib import Path

TIMING = {"train_seconds", "seconds", "search_seconds_this_run", "train_seconds_total", "schema_version", "wall_s"}

def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k not in TIMING}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x

def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()[:12]

a, b = Path(sys.argv[1]), Path(sys.argv[2])
different = 0
for name in sys.argv[3:]:
    ra, rb = a / name, b / name
    ja = [strip(json.loads(l)) for l in (ra / "journal.jsonl").read_text().splitlines()]
    jb = [strip(json.loads(l)) for l in (rb / "journal.jsonl").read_text().splitlines()]
    print(name, "journal rows", len(ja), len(jb), "equal" if ja == jb else "DIFFER")
    different += ja != jb
    if ja != jb:
        for i, (x, y) in enumerate(zip(ja, jb)):
            if x != y:
                print("  first differing row", i, [k for k in set(x) | set(y) if x.get(k) != y.get(k)]); break
    sa, sb = strip(json.loads((ra / "summary.json").read_text())), strip(json.loads((rb / "summary.json").read_text()))
    print(name, "summary", "equal" if sa == sb else "DIFFER", "keys same order" if list(sa) == list(sb) else f"key order {list(sa)} vs {list(sb)}")
    different += sa != sb
    if sa != sb:
        print("  differing keys", [k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k)])
    for f in ["best_spec.json", "model_int8.tflite", "export.json"] + sorted(str(p.relative_to(ra)) for p in (ra / "firmware").rglob("*") if p.is_file()):
        fa, fb = ra / f, rb / f
        if not fa.exists() and not fb.exists():
            continue
        same = fa.exists() and fb.exists() and digest(fa) == digest(fb)
        if not same:
            different += 1
            print("  file differs:", f)
    print(name, "files checked")
sys.exit(1 if different else 0)
