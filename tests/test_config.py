"""Settings validated on entry, scikit-learn style: the message names the setting, what is
valid and what was given; the command line says it in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from xcelerator.cli.main import main
from xcelerator.compress.config import OptimizeConfig
from xcelerator.errors import BadInputError
from xcelerator.nas.study import SearchConfig


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (SearchConfig(trials=0), "search: the setting 'trials' must be a number >= 1; got 0"),
        (SearchConfig(inherit="yes"), "the setting 'inherit' must be bool; got 'yes'"),  # type: ignore[arg-type]
        (SearchConfig(benchmark="nb101"), "'benchmark' must be one of None, 'nasbench201', 'toy'; got 'nb101'"),
        (SearchConfig(max_seconds=-1.0), "'max_seconds' must be a number >= 0; got -1.0"),
        (OptimizeConfig(budget=0), "optimize: the setting 'budget' must be a number >= 1; got 0"),
        (OptimizeConfig(max_ratio=1.5), "'max_ratio' must be a number >= 0.0 <= 0.99; got 1.5"),
        (OptimizeConfig(confirm="no"), "'confirm' must be bool or Plan; got 'no'"),  # type: ignore[arg-type]
    ],
)
def test_bad_settings_name_the_setting_the_valid_values_and_what_was_given(cfg: object, message: str) -> None:
    with pytest.raises(BadInputError) as e:
        cfg.validate()  # type: ignore[attr-defined]
    assert message in str(e.value)


def test_defaults_are_valid() -> None:
    assert SearchConfig().validate() == SearchConfig()
    assert OptimizeConfig().validate() == OptimizeConfig()


def test_a_bad_setting_in_a_config_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("benchmark: nasbench201\nobjectives: [error, latency]\ntrials: -3\n")
    rc = main(["--db", str(tmp_path / "x.db"), "search", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "the setting 'trials' must be a number >= 1; got -3" in err
    db = tmp_path / "x.db"
    if db.exists():  # refused before any study was opened
        import optuna

        assert optuna.get_all_study_summaries(f"sqlite:///{db}") == []
