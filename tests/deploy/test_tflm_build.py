"""The TFLM object cache under concurrency: two test workers (pytest -n 2) or two runs share $COMPRESS_CACHE."""
import threading
import time

from compress.deploy import tflm_build


def test_two_builders_at_once_compile_each_object_once(tmp_path, monkeypatch):
    chain = object.__new__(tflm_build.Toolchain)  # no tree or compiler needed: compiling is replaced below
    chain.dir, chain.jobs = tmp_path / "key", 2
    compiled = []

    def compile_slowly(source, pch_dirs, progress=None):
        compiled.append(source)
        time.sleep(0.3)  # long enough that the second builder looks while the first is still compiling
        obj = chain._object_path(source)
        obj.parent.mkdir(parents=True, exist_ok=True)
        obj.write_text(source)
        return obj

    monkeypatch.setattr(chain, "_compile", compile_slowly)
    results = []
    builders = [threading.Thread(target=lambda: results.append(chain.objects(["a.cc", "b.c"]))) for _ in range(2)]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    assert sorted(compiled) == ["a.cc", "b.c"]
    assert results[0] == results[1] == [chain.dir / "obj" / "a.o", chain.dir / "obj" / "b.o"]
