"""Corpus adapters on fixture copies of each real layout: exact counts per class and per skip reason."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from data_prep.corpora import ADAPTERS, get_adapter, walk_files
from data_prep.corpora.base import Utterance
from data_prep.labels import EMOTIONS
from tests.support import fixture_corpora as fc

LANGUAGES = {"ravdess": "en", "iesc": "en", "hindi": "hi", "kai_indian": "hi", "urdu": "ur", "urdu_ser": "ur"}


def check(name: str, fx: fc.Fixture, **options) -> list[Utterance]:
    result = get_adapter(name).scan(fx.root, **options)
    assert Counter(u.label for u in result.utterances) == +fx.kept
    assert Counter(s.reason for s in result.skipped) == +fx.skipped
    assert result.found == fx.found
    assert {u.speaker for u in result.utterances} == fx.speakers
    assert all(u.label in EMOTIONS and u.corpus == name and Path(u.path).is_file() for u in result.utterances)
    assert all(s.corpus == name and s.reason for s in result.skipped)
    paths = [u.path for u in result.utterances]
    assert paths == sorted(paths, key=str.casefold) and len(set(paths)) == len(paths)
    return result.utterances


@pytest.mark.parametrize("name", sorted(fc.SIX))
def test_six_layouts(tmp_path: Path, name: str) -> None:
    fx = fc.SIX[name](tmp_path / name)
    utts = check(name, fx)
    assert {u.language for u in utts} == {LANGUAGES[name]}


def test_ravdess_counts_match_the_real_ratio(tmp_path: Path) -> None:
    fx = fc.ravdess(tmp_path)
    # per actor: neutral 4, the five other kept classes 8 each (the real corpus: x24 = 96 and 192)
    assert fx.kept == Counter({"neutral": 8, "happy": 16, "sad": 16, "anger": 16, "fear": 16, "surprise": 16})
    utts = check("ravdess", fx)
    assert all("audio_speech_actors" not in u.path for u in utts)  # the first tree is the one kept
    assert {u.original_label for u in utts} == {"neutral", "happy", "sad", "angry", "fearful", "surprised"}


def test_hindi_reads_both_layouts(tmp_path: Path) -> None:
    fx = fc.hindi(tmp_path)
    utts = check("hindi", fx)
    assert sum("SER HINDI SESSION 1" in u.path for u in utts) == 1  # only the clip missing from layout A
    assert fx.kept == Counter({"anger": 5, "fear": 4, "happy": 4, "neutral": 4, "sad": 4, "surprise": 4})


def test_urdu_ser_ignores_the_csv_and_drops_boredom_disgust(tmp_path: Path) -> None:
    fx = fc.urdu_ser(tmp_path)
    utts = check("urdu_ser", fx)
    assert fx.kept == Counter({"anger": 4, "fear": 4, "happy": 4, "neutral": 4, "sad": 4})
    assert {u.original_label for u in utts} == {"1 angry", "2 fear", "5 happy", "6 neutral", "7 sad"}


def test_urdu_speakers_and_codes(tmp_path: Path) -> None:
    utts = check("urdu", fc.urdu(tmp_path))
    assert {u.original_label for u in utts} == {"A", "H", "N", "S"}
    assert "urdu_SF10" in {u.speaker for u in utts}


def test_iesc_same_file_names_in_every_folder_are_not_duplicates(tmp_path: Path) -> None:
    utts = check("iesc", fc.iesc(tmp_path))
    assert len(utts) == 30 and Counter(Path(u.path).name for u in utts) == {"1.wav": 15, "2.wav": 15}


def test_iesc_without_speaker_folder_is_skipped(tmp_path: Path) -> None:
    fc.write_clip(tmp_path / "Anger" / "1.wav")
    result = get_adapter("iesc").scan(tmp_path)
    assert not result.utterances and [s.reason for s in result.skipped] == ["no speaker"]


def test_kai_indian_options(tmp_path: Path) -> None:
    fx = fc.kai_indian(tmp_path)
    result = get_adapter("kai_indian").scan(fx.root, language="en", speaker_regex=r"_(\d+)\.")
    speakers = {u.speaker for u in result.utterances}
    assert {u.language for u in result.utterances} == {"en"}
    assert speakers == {"kai_indian_01", "kai_indian_02", "kai_indian_03"}


def test_folder_adapter_regex_and_skips(tmp_path: Path) -> None:
    fx = fc.bad_folder(tmp_path)
    result = get_adapter("folder").scan(fx.root, speaker_regex=r"^(?P<speaker>[^_]+)_")
    # the bad files pass the adapter (the decoder rejects them): 7 in sad/, the byte copy in fear/
    assert Counter(u.label for u in result.utterances) == fx.kept + Counter({"sad": 7, "fear": 1})
    assert Counter(s.reason for s in result.skipped) == fx.skipped
    assert result.found == fx.found
    assert {u.speaker for u in result.utterances} == fx.speakers | {"folder_s9"}


def test_folder_regex_mismatch_is_reported(tmp_path: Path) -> None:
    fc.write_clip(tmp_path / "sad" / "a_1.wav")
    fc.write_clip(tmp_path / "sad" / "nounderscore.wav")
    result = get_adapter("folder").scan(tmp_path, speaker_regex=r"^(?P<speaker>[^_]+)_")
    assert [u.speaker for u in result.utterances] == ["folder_a"]
    assert [s.reason for s in result.skipped] == ["no speaker"]
    assert {u.speaker for u in get_adapter("folder").scan(tmp_path).utterances} == {"folder_unknown"}


def test_folder_same_name_in_other_folders_is_kept(tmp_path: Path) -> None:
    """Two different recordings sharing a file name are both clips; only identical bytes are duplicates (decode)."""
    fc.write_clip(tmp_path / "a" / "happy" / "x.wav")
    fc.write_clip(tmp_path / "B" / "Happy" / "X.WAV")
    fc.write_clip(tmp_path / "spk01" / "happy" / "take_01.wav")
    fc.write_clip(tmp_path / "spk02" / "happy" / "take_01.wav")
    result = get_adapter("folder").scan(tmp_path)
    assert len(result.utterances) == 4 and not result.skipped


def test_csv_manifest(tmp_path: Path) -> None:
    fc.write_clip(tmp_path / "clips" / "a.wav")
    fc.write_clip(tmp_path / "clips" / "b.wav")
    (tmp_path / "m.csv").write_text(
        "Path,Label,speaker,language\nclips/a.wav,Angry,p1,de\nclips/b.wav,sad,,\nclips/a.wav,angry,p1,de\n"
        "clips/c.wav,boredom,p2,de\nclips/d.wav,giggly,p2,de\n"
    )
    result = get_adapter("csv").scan(tmp_path / "m.csv", language="fr")
    assert [(u.label, u.speaker, u.language) for u in result.utterances] == [
        ("anger", "csv_p1", "de"),
        ("sad", "csv_unknown", "fr"),
    ]
    assert Counter(s.reason for s in result.skipped) == {"duplicate row": 1, "dropped label": 1, "unknown label": 1}
    (tmp_path / "bad.csv").write_text("file,emotion\nx.wav,sad\n")
    with pytest.raises(ValueError, match="path,label"):
        get_adapter("csv").scan(tmp_path / "bad.csv")


def test_walk_is_sorted_case_insensitively(tmp_path: Path) -> None:
    for name in ("b.wav", "A.WAV", "c/Z.wav", "C/a.wav"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    walked = [p.relative_to(tmp_path).as_posix() for p in walk_files(tmp_path)]
    assert walked == ["A.WAV", "b.wav", "C/a.wav", "c/Z.wav"]
    with pytest.raises(FileNotFoundError):
        walk_files(tmp_path / "missing")


def test_registry() -> None:
    assert set(ADAPTERS) == {"ravdess", "iesc", "hindi", "kai_indian", "urdu", "urdu_ser", "folder", "csv"}
    for module in ADAPTERS.values():
        assert module.SOURCE and module.DEFAULT_LANGUAGE and callable(module.scan)
    with pytest.raises(KeyError, match="known"):
        get_adapter("nope")
