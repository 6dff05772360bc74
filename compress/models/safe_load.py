"""Load a user's .keras / .h5 / .hdf5 safely: the model config is checked against an allow-list before Keras reads it.

Keras' safe mode refuses Python lambdas, but a config may still name any module and class ("module": "os"),
which Keras imports while deserialising. So before deserialising we read the config ourselves (config.json in
the .keras zip; the `model_config` attribute of an HDF5 file, with h5py) and refuse any module outside Keras
and any class that is not one of Keras' built-in layers, initializers, regularizers, constraints or models.
"""
from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from compress import CompressError
from compress.validate import parse_json
from compress.models import isolated

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
ALLOWED_MODULE_ROOTS = ("keras", "tf_keras")  # a config's "module" must be one of these packages or inside them
# classes that run code from the file, or stand for a user's own code: never allowed
HDF5_CHILD_MEMORY_BYTES = 4 << 30  # a fuzzed dataset shape then fails in the child instead of swapping
REFUSED_CLASSES = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda", "__lambda__"})
# serialisation helpers and containers Keras itself writes into configs
# never deserialised: load_keras loads with compile=False, so the optimizer, loss and metrics are not read
SKIPPED_KEYS = frozenset({"compile_config"})
EXTRA_CLASSES = frozenset({"Functional", "Sequential", "Model", "function", "DTypePolicy", "Policy",
                           "__keras_tensor__", "__tuple__", "__numpy__", "__tensor__", "TensorShape"})


def allowed_classes() -> frozenset:
    """Keras' own layers, initializers, regularizers and constraints (by class name), minus the code-running ones."""
    import tf_keras as keras

    names = set(EXTRA_CLASSES)
    for namespace in (keras.layers, keras.initializers, keras.regularizers, keras.constraints):
        names.update(n for n in dir(namespace) if n[:1].isupper())
    return frozenset(names - REFUSED_CLASSES)


def allowed_functions() -> frozenset:
    """The functions a layer config may name: Keras' activations (relu, softmax, ...)."""
    import tf_keras as keras

    helpers = {"get", "serialize", "deserialize"}  # look-ups by name, not activations
    return frozenset(n for n in dir(keras.activations) if n[:1].islower() and not n.startswith("_")) - helpers


def read_config(path: Path) -> dict:
    """The model config inside a .keras zip or an HDF5 file, without deserialising anything."""
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise CompressError(f"{path}: not a Keras model (a zip without config.json)")
                damaged = archive.testzip()  # every member's CRC, in Python, before any C parser sees one
                if damaged is not None:
                    raise CompressError(f"{path}: corrupt .keras zip: {damaged} fails its checksum")
                text = archive.read("config.json")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:  # a corrupt archive
            raise CompressError(f"{path}: not a readable .keras zip ({type(exc).__name__}: {exc})") from None
    else:
        import h5py

        try:
            with h5py.File(path, "r") as f:
                text = f.attrs.get("model_config")
        except OSError:
            raise CompressError(f"{path}: not a Keras model (neither a .keras zip nor an HDF5 file)") from None
        if text is None:
            raise CompressError(f"{path}: not a Keras model (an HDF5 file without a model_config: weights only?)")
    config = parse_json(text, f"{path}: its model config")  # nesting measured before json.loads recurses
    if not isinstance(config, dict):
        raise CompressError(f"{path}: not a Keras model (its model config is not an object)")
    return config


def check_config(config, path, allowed: frozenset) -> None:
    """Refuse a config that names a module outside Keras, a class outside the allow-list or a function that is
    not one of Keras' activations (one line). Only the top level's compile_config is skipped: load_model(compile=
    False) drops that one, but deserialises one nested deeper."""
    functions = allowed_functions()
    stack = [{k: v for k, v in config.items() if k not in SKIPPED_KEYS}]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        module = item.get("module")
        if isinstance(module, str) and module.split(".")[0] not in ALLOWED_MODULE_ROOTS:
            raise CompressError(f"{path}: refused: its config names module {module!r}; only Keras' own "
                                f"({', '.join(ALLOWED_MODULE_ROOTS)}) may be loaded")
        name = item.get("class_name")
        if isinstance(name, str) and name not in allowed:
            raise CompressError(f"{path}: refused: its config names class {name!r}, which is not one of Keras' "
                                "built-in layers (custom or Lambda layers run code from the file)")
        registered = item.get("registered_name")
        if isinstance(registered, str) and registered != name and registered not in allowed | functions:
            raise CompressError(f"{path}: refused: its config names registered class {registered!r}")
        if name == "function" and item.get("config") not in functions:
            raise CompressError(f"{path}: refused: its config names function {item.get('config')!r}, which is not "
                                "one of Keras' activations")
        stack.extend(item.values())


def load_keras(path) -> object:
    """A .keras/.h5/.hdf5 model, checked against the allow-list, then loaded in safe mode without its optimizer."""
    p = Path(path)
    if p.suffix.lower() not in KERAS_SUFFIXES:
        raise CompressError(f"{path}: expected a Keras model file ({', '.join(KERAS_SUFFIXES)})")
    if not p.is_file():
        raise CompressError(f"{path}: no such file")
    in_zip = zipfile.is_zipfile(p)  # .keras: the zip and its config are read in Python first
    config = read_config(p) if in_zip else None
    isolated.call("compress.models.safe_load:read_hdf5", (str(p),), where=str(path), what="HDF5 (h5py)",
                  hint="is it a valid Keras model file?", memory_bytes=HDF5_CHILD_MEMORY_BYTES)
    config = config if in_zip else read_config(p)
    from compress.models import keras3

    if keras3.saved_by_keras3(p, config):  # rebuilt in tf_keras from the checked config, weights read with h5py
        keras3.check_layers(config, path, allowed_functions())
        check_config(config, path, allowed_classes())
        return keras3.rebuild(p, config)
    check_config(config, path, allowed_classes())
    import tf_keras as keras
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    try:
        with SafeModeScope(True):  # the legacy .h5 loader ignores load_model's safe_mode; the scope reaches it
            return keras.models.load_model(p, compile=False, safe_mode=True)
    except Exception as exc:  # h5py, zipfile, JSON and Keras errors alike: the user gets one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise CompressError(f"{path}: cannot load the Keras model: {first}") from None


def read_hdf5(path: str) -> None:
    """Read every dataset and attribute of the model's HDF5 part (the .h5 itself, or model.weights.h5 inside a
    .keras zip). load_keras runs this in a child process first: the HDF5 library is C that trusts the file, so
    a corrupt one crashes the child (one line) instead of this process."""
    import io

    import h5py

    source = path
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                return
            source = io.BytesIO(archive.read("model.weights.h5"))
    def read(name, item) -> None:  # visititems stops at the first callback that returns something
        for key in item.attrs:
            item.attrs[key]
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        f = h5py.File(source, "r")
    except OSError:
        raise CompressError(f"{path}: not a Keras model (neither a .keras zip nor an HDF5 file)") from None
    try:
        with f:
            read("/", f)
            f.visititems(read)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # what h5py raises for a corrupt file
        raise CompressError(f"{path}: corrupt HDF5 file ({type(exc).__name__}: {exc})") from None
