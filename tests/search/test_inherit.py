"""Weight inheritance through the graph: what each reduction kind inherits, and same function on the kept part."""
import numpy as np

from compress.models import graph
from compress.models.keras_build import build_model
from compress.models.reductions import reductions
from compress.models.spec import Layer, ModelSpec
from compress.search.inherit import factorise, inherit_weights

SHAPE = (12, 12, 2)


def chain() -> ModelSpec:
    return ModelSpec(SHAPE, 3, (
        Layer("conv", "conv1", units=6, kernel=3), Layer("bn", "bn1"), Layer("relu", "relu1"),
        Layer("conv", "conv2", units=8, kernel=5), Layer("bn", "bn2"), Layer("relu", "relu2"),
        Layer("conv", "conv3", units=4, kernel=3), Layer("relu", "relu3"),
        Layer("maxpool", "pool", kernel=2, stride=2, padding="valid"), Layer("flatten", "flatten"),
        Layer("dense", "fc6", units=10), Layer("relu", "fc6_relu"), Layer("dropout", "fc6_drop", rate=0.5),
        Layer("dense", "fc7", units=9), Layer("relu", "fc7_relu")), name="chain")


def residual_dag() -> ModelSpec:
    """A fork into a conv path and a 1x1 shortcut joined by an Add, then a two-branch Concatenate."""
    return ModelSpec(SHAPE, 3, (
        Layer("conv", "stem", units=6, kernel=3), Layer("relu", "stem_relu"),
        Layer("sepconv", "body", units=8, kernel=3), Layer("bn", "body_bn"),
        Layer("conv", "short", units=8, kernel=1, inputs=("stem_relu",)),
        Layer("add", "add", inputs=("body_bn", "short")), Layer("relu", "add_relu"),
        Layer("conv", "left", units=4, kernel=1), Layer("dwconv", "right", kernel=3, inputs=("add_relu",)),
        Layer("concat", "cat", inputs=("left", "right")), Layer("conv", "mix", units=5, kernel=3),
        Layer("gap", "gap")), name="dag")


def _randomised(spec):
    """spec built with non-trivial BN statistics, so copying them matters."""
    import tf_keras as keras

    model = build_model(spec, seed=1)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in layer.get_weights()])
    return model


def _child(parent_spec, label):
    by_label = {r.label: r.spec for r in reductions(parent_spec)}
    assert label in by_label, sorted(by_label)
    return by_label[label]


def _inherit(parent_spec, label):
    child_spec = _child(parent_spec, label)
    parent = _randomised(parent_spec)
    child = build_model(child_spec, seed=2)
    return parent, child, child_spec, inherit_weights(child, child_spec, parent, parent_spec)


def _activation(model, name, x):
    import tf_keras as keras

    return keras.Model(model.input, model.get_layer(name).output).predict(x, verbose=0)


X = np.random.default_rng(3).uniform(0, 1, (4, *SHAPE)).astype(np.float32)


def test_halving_a_width_keeps_the_strongest_filters_and_computes_the_same_on_them():
    parent, child, _, status = _inherit(chain(), "conv2 filters 8\u21924")
    assert status["conv1"] == status["bn1"] == status["head"] == status["fc7"] == "copied"
    assert status["conv2"] == status["bn2"] == status["conv3"] == "thinned"
    kernel = parent.get_layer("conv2").get_weights()[0]
    kept = np.sort(np.argsort(-np.abs(kernel).sum(axis=(0, 1, 2)))[:4])
    np.testing.assert_allclose(_activation(child, "relu2", X), _activation(parent, "relu2", X)[..., kept],
                               rtol=1e-5, atol=1e-5)


def test_after_removing_a_conv_its_successor_is_reinitialised_not_fed_foreign_channels():
    parent, child, _, status = _inherit(chain(), "remove conv2")
    assert "conv2" not in status and status["conv1"] == status["bn1"] == "copied"
    assert status["conv3"] == "reinitialised"  # conv2's input slices would be applied to conv1's channels
    assert status["fc6"] == status["fc7"] == status["head"] == "copied"  # conv3 keeps its output positions


def test_after_removing_a_dense_layer_the_next_one_is_reinitialised():
    parent, child, child_spec, status = _inherit(chain(), "remove fc6")
    assert status["fc7"] == "reinitialised" and status["head"] == "copied"
    assert all(status[n] == "copied" for n in ("conv1", "bn1", "conv2", "bn2", "conv3"))
    np.testing.assert_allclose(_activation(child, "flatten", X), _activation(parent, "flatten", X), rtol=1e-5,
                               atol=1e-5)


def test_conv_to_separable_is_factorised_and_its_batchnorm_follows():
    _, _, _, status = _inherit(chain(), "conv2 \u2192 separable")
    assert status["conv2"] == "factorised" and status["bn2"] == "copied" and status["conv3"] == "copied"


def test_factorisation_is_exact_for_a_separable_kernel():
    rng = np.random.default_rng(0)
    depth, point = rng.normal(size=(3, 3, 4, 1)), rng.normal(size=(1, 1, 4, 5))
    kernel = depth * point  # (3,3,4,5): per input channel, a depthwise kernel times a pointwise row
    d, p = factorise(kernel)
    np.testing.assert_allclose(d * p, kernel, atol=1e-9)


def test_shrunk_kernel_is_a_centre_crop_and_a_new_pool_passes_channels_through():
    _, child, _, status = _inherit(chain(), "conv2 kernel 5\u21923")
    assert status["conv2"] == "thinned" and status["conv3"] == "copied"
    _, _, _, status = _inherit(chain(), "2\u00d72 max-pool after conv1")
    assert status["conv2"] == "copied" and status["fc6"] == "reinitialised"  # the flat features moved


def test_smaller_input_keeps_convs_and_reinitialises_the_dense_after_flatten():
    parent_spec = chain()
    child_spec = parent_spec.replace(input_shape=(10, 10, 2))  # what smaller_input does (its steps start at 40)
    status = inherit_weights(build_model(child_spec), child_spec, _randomised(parent_spec), parent_spec)
    assert all(status[n] == "copied" for n in ("conv1", "bn1", "conv2", "bn2", "conv3"))
    assert status["fc6"] == "reinitialised" and status["fc7"] == "copied"


def test_residual_group_thinned_together_computes_the_same_on_the_kept_channels():
    spec = residual_dag()
    label = next(r.label for r in reductions(spec) if r.label.startswith("body+short"))
    parent, child, child_spec, status = _inherit(spec, label)
    assert status["body"] == status["short"] == status["body_bn"] == "thinned"
    assert status["stem"] == "copied" and status["left"] == "thinned"
    kept = child_spec.layers[child_spec.index("body")].units
    assert _activation(child, "add_relu", X).shape[-1] == kept


def test_removing_a_concat_branch_keeps_the_other_branch_and_slices_the_reader():
    parent, child, _, status = _inherit(residual_dag(), "remove branch right of cat")
    assert status["left"] == "copied" and status["mix"] == "thinned" and status["head"] == "copied"
    np.testing.assert_allclose(_activation(child, "left", X), _activation(parent, "left", X), rtol=1e-5, atol=1e-5)


def test_removing_a_residual_block_reinitialises_what_read_it():
    spec = residual_dag()
    label = next(r.label for r in reductions(spec) if r.label.startswith("remove block"))
    _, _, child_spec, status = _inherit(spec, label)
    assert "add" not in {layer.name for layer in child_spec.layers}
    assert status["stem"] == "copied" and status["left"] == "reinitialised"


def test_every_child_of_the_dag_is_valid_and_inherits_without_error():
    spec = residual_dag()
    parent = _randomised(spec)
    for r in reductions(spec):
        status = inherit_weights(build_model(r.spec), r.spec, parent, spec)
        assert set(status.values()) <= {"copied", "thinned", "factorised", "reinitialised"}
        assert graph.tensor_shapes(r.spec)


def _widened(parent_spec, baseline_spec, label):
    from compress.models.widening import widenings

    from compress.models.cost import spec_cost

    by_label = dict(widenings(parent_spec, baseline_spec, lambda s: spec_cost(s).flops))
    assert label in by_label, sorted(by_label)
    parent, child_spec = _randomised(parent_spec), by_label[label]
    child = build_model(child_spec, seed=2)
    return parent, child, inherit_weights(child, child_spec, parent, parent_spec)


def test_widening_filters_keeps_the_parent_units_and_computes_the_same_function():
    """Net2Net-style: new units start fresh, their readers get zero weights, so the output is unchanged."""
    baseline = chain()
    thin = _child(baseline, "conv2 filters 8\u21924")
    parent, child, status = _widened(thin, baseline, "conv2 filters 4\u21928")
    assert status["conv2"] == status["bn2"] == status["conv3"] == "widened" and status["conv1"] == "copied"
    np.testing.assert_allclose(_activation(child, "relu2", X)[..., :4], _activation(parent, "relu2", X),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(child.predict(X, verbose=0), parent.predict(X, verbose=0), rtol=1e-5, atol=1e-5)


def test_widening_a_dense_layer_and_a_kernel_computes_the_same_function():
    baseline = chain()
    for reduced, widened in (("fc6 units 10\u21925", "fc6 units 5\u219210"),
                             ("conv2 kernel 5\u21923", "conv2 kernel 3\u21925")):
        parent, child, status = _widened(_child(baseline, reduced), baseline, widened)
        assert "widened" in status.values(), status
        np.testing.assert_allclose(child.predict(X, verbose=0), parent.predict(X, verbose=0), rtol=1e-5,
                                   atol=1e-5)
