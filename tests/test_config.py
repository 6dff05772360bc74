"""config.py: typed settings, config.json round trip, what --resume may change; jobs read them back; the options
take their defaults and help from the config fields."""
import argparse
import dataclasses
import json

import pytest

from compress import CompressError, cli, options
from compress.config import (CONFIG_FILE, TRAIN_JOB, DataConfig, EmulatorConfig, ExportConfig, RunConfig,
                             SearchConfig, Targets, TrainConfig, read_run_config)

CONFIGS = (DataConfig, Targets, EmulatorConfig, TrainConfig, SearchConfig, ExportConfig)
# options whose default is worked out when the command runs (None), not a config field's
OWN_DEFAULTS = {("search", "baseline"), ("train", "baseline"), ("export", "data"), ("data inspect", "data"),
                ("firmware", "device")}


def _actions(parser, command=""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _actions(child, f"{command} {name}".strip())
        else:
            yield command, action


def test_every_options_default_is_its_config_fields_default():
    names = {f.name for config in CONFIGS for f in dataclasses.fields(config)}
    checked = 0
    for command, action in _actions(cli.build_parser()):
        if (command, action.dest) in OWN_DEFAULTS:
            assert action.default is None, (command, action.dest)
            continue
        if not hasattr(action, "config_field"):
            assert action.dest not in names, f"{command} {action.option_strings}: declare it with options.add"
            continue
        config, name = action.config_field
        assert action.default == getattr(config, name), (command, action.option_strings)
        assert action.help and "{" not in action.help.replace("{train,val,test}", ""), (command, action.help)
        checked += 1
    assert checked >= 42
    assert {f.name for config in CONFIGS for f in dataclasses.fields(config) if not f.metadata.get("help")} == set()


def test_parsed_defaults_are_the_configs_defaults():
    parse = cli.build_parser().parse_args
    assert options.run_config(parse(["search"])) == RunConfig()
    assert options.train_config(parse(["train"])) == TRAIN_JOB
    assert options.export_config(parse(["export", "m.keras"])) == ExportConfig()
    assert options.emulator_config(parse(["emulate", "m.tflite"])) == EmulatorConfig()
    assert "(default 8000" in cli.build_parser()._subparsers._group_actions[0].choices["search"].format_help()


def test_run_config_round_trips_through_json(tmp_path):
    config = RunConfig(data=DataConfig(source="faces.csv", positive="happy", size=32),
                       targets=Targets(budget_flops=1.5e6, latency_model="ops"),
                       search=SearchConfig(strategy="dfs", max_evals=7))
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config.to_dict()))
    assert read_run_config(tmp_path) == config
    assert read_run_config(tmp_path / "elsewhere") is None


def test_cli_options_become_configs():
    args = cli.build_parser().parse_args(["search", "--baseline", "embedded3", "--budget-flops", "2e6", "--size",
                                          "32", "--max-evals", "5", "--no-export", "--lr", "0.01"])
    config = options.run_config(args)
    assert config.search.baseline == "embedded3" and config.search.max_evals == 5
    assert config.targets.budget_flops == 2e6 and config.data.size == 32 and config.train.lr == 0.01
    assert config.export.enabled is False and config.data.source == "synthetic-faces"


@pytest.mark.parametrize("text, message", [
    ('{"data": {"sauce": "x"}}', "unknown setting.*sauce"),
    ('{"extra": {}}', "unknown section.*extra"),
    ('{"data": "synthetic-faces"}', "unknown setting.*data"),
    ("[1, 2]", "expected a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_bad_config_json_is_one_clear_error(tmp_path, text, message):
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(CompressError, match=message):
        read_run_config(tmp_path)


def test_resume_may_change_budgets_and_export_only():
    old = RunConfig()
    longer = RunConfig(search=SearchConfig(max_evals=100, max_minutes=90))
    assert longer.changes_refused_on_resume(old) == {}
    other = RunConfig(search=SearchConfig(strategy="dfs"), targets=Targets(budget_flops=1e6))
    assert other.changes_refused_on_resume(old) == {"targets.budget_flops": (0.46e6, 1e6),
                                                     "search.strategy": ("astar", "dfs")}


def test_export_scores_a_runs_model_on_the_runs_own_data(trained_model, blob_data, tmp_path, monkeypatch):
    """`export runs/X/best.keras` reads the data settings from the run's config.json, as report does."""
    import compress.data.dataset

    run = tmp_path / "run"
    run.mkdir()
    trained_model.save(run / "best.keras")
    run_data = DataConfig(source="some.csv", positive="happy", size=24, seed=5)
    (run / CONFIG_FILE).write_text(json.dumps(RunConfig(data=run_data).to_dict()))
    asked = []
    monkeypatch.setattr(compress.data.dataset, "load", lambda config: asked.append(config) or blob_data)
    assert cli.main(["export", str(run / "best.keras")]) == 0
    assert cli.main(["export", str(run / "best.keras"), "--data", "other.npz", "--size", "24"]) == 0
    assert asked == [run_data, DataConfig(source="other.npz", size=24)]


@pytest.mark.parametrize("error, status, words", [(MemoryError(), 2, "out of memory"),
                                                  (OSError(28, "No space left on device"), 2, "No space left")])
def test_an_error_of_the_run_itself_is_one_line(monkeypatch, capsys, tmp_path, error, status, words):
    from compress import jobs

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(jobs, "search", fail)
    assert cli.main(["search", "--out", str(tmp_path / "run")]) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and words in err[0]
