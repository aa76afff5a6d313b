"""Tiny copies of the six corpora in their real layouts (real WAV files written with soundfile), plus
a generic labelled folder with every kind of bad input. Each builder returns a `Fixture` with the
exact counts the adapters must report. Every clip has its own content (no accidental byte duplicates).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

CLIP_SECONDS = 0.4


@dataclass
class Fixture:
    """A written fixture corpus and what an adapter must find in it."""

    root: Path
    kept: Counter = field(default_factory=Counter)  # class -> clips kept by the adapter
    skipped: Counter = field(default_factory=Counter)  # reason -> files skipped by the adapter
    decode_skipped: Counter = field(default_factory=Counter)  # reason -> files dropped when decoding
    speakers: set[str] = field(default_factory=set)

    @property
    def found(self) -> int:
        """Every file under the root."""
        return sum(1 for p in self.root.rglob("*") if p.is_file())


def write_clip(
    path: Path, sr: int = 16000, subtype: str = "PCM_16", seconds: float = CLIP_SECONDS, channels: int = 1
) -> Path:
    """A short tone + noise clip whose content depends on the path (so no two files are identical)."""
    seed = int.from_bytes(hashlib.sha1(os.fsencode(path.as_posix())).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    wave = 0.3 * np.sin(2 * np.pi * rng.uniform(120, 400) * t) + 0.02 * rng.standard_normal(t.size)
    data = np.stack([wave, 0.5 * wave], axis=1) if channels == 2 else wave
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(os.fsencode(path), data.astype(np.float32), sr, subtype=subtype)  # bytes: non-UTF-8 names work
    return path


def ravdess(root: Path, actors: tuple[int, ...] = (1, 2)) -> Fixture:
    """Actor_XX/ with the full 60-file speech set per actor (48 kHz 16-bit), plus song and video-only
    files, and the Kaggle copy's second tree audio_speech_actors_01-24/Actor_XX/ (all duplicates)."""
    fx = Fixture(root)
    names = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "anger", 6: "fear", 7: "disgust", 8: "surprise"}
    for actor in actors:
        fx.speakers.add(f"ravdess_{actor:02d}")
        for emotion in range(1, 9):
            for intensity in (1,) if emotion == 1 else (1, 2):
                for statement in (1, 2):
                    for rep in (1, 2):
                        name = f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{rep:02d}-{actor:02d}.wav"
                        write_clip(root / f"Actor_{actor:02d}" / name, 48000)
                        if emotion in (2, 7):
                            fx.skipped["dropped label"] += 1
                        else:
                            fx.kept[names[emotion]] += 1
        # song (vocal channel 02) and a video-only modality: not audio-only speech
        write_clip(root / f"Actor_{actor:02d}" / f"03-02-03-01-01-01-{actor:02d}.wav", 48000)
        write_clip(root / f"Actor_{actor:02d}" / f"02-01-03-01-01-01-{actor:02d}.wav", 48000)
        fx.skipped["not audio-only speech"] += 2
    # Kaggle: every actor a second time under audio_speech_actors_01-24/
    for actor in actors:
        src = root / f"Actor_{actor:02d}"
        dst = root / "audio_speech_actors_01-24" / f"Actor_{actor:02d}"
        shutil.copytree(src, dst)
        fx.skipped["duplicate name"] += sum(1 for _ in dst.iterdir())
    return fx


def urdu_ser(root: Path) -> Fixture:
    """Emotion folders with <actor>_<gender>_<emotion>_<seq>.wav, 32-bit float at 44.1 kHz, the CSV and desc.md."""
    fx = Fixture(root)
    folders = {1: "Angry", 2: "Fear", 3: "Boredom", 4: "Disgust", 5: "Happy", 6: "Neutral", 7: "Sad"}
    classes = {1: "anger", 2: "fear", 5: "happy", 6: "neutral", 7: "sad"}
    rows = ["اداکار,جنس,جذبات,فائل", "actor,gender,emotion,file"]
    for actor, gender in ((1, 0), (10, 1)):
        fx.speakers.add(f"urdu_ser_{actor}")
        for code, folder in folders.items():
            for seq in ("01", "2"):  # widths vary: do not assume them
                name = f"{actor}_{gender}_{code}_{seq}.wav"
                write_clip(root / folder / name, 44100, "FLOAT")
                rows.append(f"{actor},{gender},{code},{name}")
                if code in classes:
                    fx.kept[classes[code]] += 1
                else:
                    fx.skipped["dropped label"] += 1
    (root / "UrSEC_Description.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (root / "desc.md").write_text("UrduSER description\n")
    fx.skipped["not an audio file"] += 2
    return fx


def hindi(root: Path) -> Fixture:
    """Layout A `my Dataset/<emotion>/` and layout B `SER HINDI SESSION 1/<spk>/session<k>/<emotion>/`
    holding the same clips (byte copies), plus one clip found only in layout B (speaker 3)."""
    fx = Fixture(root)
    emotions = ["anger", "disgust", "fear", "happy", "neutral", "sad", "sarcastic", "surprise"]
    for speaker in (1, 2):
        fx.speakers.add(f"hindi_{speaker}")
        for emotion in emotions:
            for idx in (1, 2):
                name = f"{speaker}.1.{emotion}-{idx:02d}.wav"
                a = write_clip(root / "my Dataset" / emotion / name, 16000)
                b = root / "SER HINDI SESSION 1" / str(speaker) / "session1" / emotion / name
                b.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(a, b)
                fx.skipped["duplicate name"] += 1
                if emotion in ("disgust", "sarcastic"):
                    fx.skipped["dropped label"] += 1
                else:
                    fx.kept[emotion] += 1
    write_clip(root / "SER HINDI SESSION 1" / "3" / "session2" / "anger" / "3.2.anger-01.wav", 16000)
    fx.kept["anger"] += 1
    fx.speakers.add("hindi_3")
    return fx


def iesc(root: Path) -> Fixture:
    """`Indian Emotional Speech Corpora (IESC)/Speaker-<N>/<Emotion>/<n>.wav` (same file names in every
    folder), 24-bit PCM at 22.05 kHz."""
    fx = Fixture(root)
    base = root / "Indian Emotional Speech Corpora (IESC)"
    for speaker in (1, 2, 3):
        fx.speakers.add(f"iesc_{speaker}")
        for folder, label in (
            ("Anger", "anger"),
            ("Fear", "fear"),
            ("Happy", "happy"),
            ("Neutral", "neutral"),
            ("Sad", "sad"),
        ):
            for idx in (1, 2):
                write_clip(base / f"Speaker-{speaker}" / folder / f"{idx}.wav", 22050, "PCM_24")
                fx.kept[label] += 1
    return fx


def urdu(root: Path) -> Fixture:
    """`Angry/ Happy/ Neutral/ Sad/` with S<G><spk>_F<n>_<E><idx>.wav (44.1 kHz 16-bit), one name that
    contradicts its folder, one unparseable name and a text file."""
    fx = Fixture(root)
    for folder, code, label in (
        ("Angry", "A", "anger"),
        ("Happy", "H", "happy"),
        ("Neutral", "N", "neutral"),
        ("Sad", "S", "sad"),
    ):
        speakers = ("SM1", "SM2", "SM3") if code == "A" else ("SM1", "SF10", "SF2")
        for idx, speaker in enumerate(speakers, start=1):
            write_clip(root / folder / f"{speaker}_F{idx}_{code}{idx:02d}.wav", 44100)
            fx.kept[label] += 1
            fx.speakers.add(f"urdu_{speaker}")
    write_clip(root / "Happy" / "SM4_F1_A09.wav", 44100)
    fx.skipped["label mismatch"] += 1
    write_clip(root / "Sad" / "recording 7.wav", 44100)
    fx.skipped["unparseable name"] += 1
    (root / "Sad" / "notes.txt").write_text("not audio\n")
    fx.skipped["not an audio file"] += 1
    return fx


def kai_indian(root: Path) -> Fixture:
    """A flat folder, label from a keyword in the name (stereo 16-bit 16 kHz), and one emotion subfolder."""
    fx = Fixture(root)
    for keyword, label in (
        ("angry", "anger"),
        ("fear", "fear"),
        ("happy", "happy"),
        ("neutral", "neutral"),
        ("sad", "sad"),
        ("surprised", "surprise"),
    ):
        for idx in (1, 2):
            write_clip(root / f"KAI_{keyword.upper() if idx == 1 else keyword}_{idx:02d}.wav", 16000, channels=2)
            fx.kept[label] += 1
    write_clip(root / "Surprise" / "clip_03.WAV", 16000)  # label from the folder, upper-case suffix
    fx.kept["surprise"] += 1
    write_clip(root / "kai_disgust_01.wav", 16000)
    fx.skipped["dropped label"] += 1
    write_clip(root / "kai_mystery_01.wav", 16000)
    fx.skipped["unknown label"] += 1
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    fx.skipped["hidden file"] += 1
    fx.speakers.add("kai_indian_1")
    return fx


def bad_folder(root: Path) -> Fixture:
    """A generic `folder` corpus (<label>/<speaker>_<n>.wav) of good clips at several formats and rates
    plus one file for every kind of bad input (all pass the adapter, all fail decoding)."""
    fx = Fixture(root)
    formats = [
        (16000, "PCM_16", 1),
        (22050, "PCM_24", 1),
        (44100, "FLOAT", 2),
        (48000, "PCM_U8", 1),
        (8000, "PCM_32", 1),
    ]
    for label in ("anger", "fear", "happy", "neutral", "sad", "surprise"):
        for spk in range(1, 7):
            sr, subtype, channels = formats[(spk + len(label)) % len(formats)]
            write_clip(
                root / label / f"s{spk}_{label}_{spk}.wav", sr, subtype, seconds=0.3 + 0.1 * spk, channels=channels
            )
            fx.kept[label] += 1
            fx.speakers.add(f"folder_s{spk}")
    write_clip(root / "happy" / "s1_long.wav", 16000, seconds=3.0)  # cropped to max_duration in tests
    fx.kept["happy"] += 1
    bad = root / "sad"
    (bad / "s9_empty.wav").write_bytes(b"")
    fx.decode_skipped["empty file"] += 1
    full = write_clip(bad / "s9_truncated.wav", 16000, seconds=1.0)
    full.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    fx.decode_skipped["truncated file"] += 1
    (bad / "s9_text.wav").write_text("just some text, not a waveform\n" * 10)
    fx.decode_skipped["not audio"] += 1
    sf.write(bad / "s9_zero.wav", np.zeros(0, np.float32), 16000)
    fx.decode_skipped["zero length"] += 1
    write_clip(bad / "s9_short.wav", 16000, seconds=0.1)
    fx.decode_skipped["too short"] += 1
    sf.write(bad / "s9_silent.wav", np.zeros(8000, np.float32), 16000)
    fx.decode_skipped["all silent"] += 1
    nan = np.full(8000, 0.1, np.float32)
    nan[10] = np.nan
    sf.write(bad / "s9_nan.wav", nan, 16000, subtype="FLOAT")
    fx.decode_skipped["NaN/inf samples"] += 1
    shutil.copy(root / "anger" / "s1_anger_1.wav", root / "fear" / "s1_copy.wav")  # same bytes, other name
    fx.decode_skipped["duplicate content"] += 1
    (root / "surprise" / "readme.md").write_text("labels from folder names\n")
    fx.skipped["not an audio file"] += 1
    write_clip(root / "calm" / "s1_calm_1.wav", 16000)
    fx.skipped["dropped label"] += 1
    return fx


SIX = {"ravdess": ravdess, "iesc": iesc, "hindi": hindi, "kai_indian": kai_indian, "urdu": urdu, "urdu_ser": urdu_ser}


def all_six(base: Path) -> dict[str, Fixture]:
    """The six corpus layouts under base/<name>, with a few decode failures and a cross-corpus copy."""
    fixtures = {name: build(base / name) for name, build in SIX.items()}
    rav = fixtures["ravdess"]
    cut = rav.root / "Actor_01" / "03-01-05-01-01-01-01.wav"  # an anger clip, truncated
    cut.write_bytes(cut.read_bytes()[:1000])
    rav.kept["anger"] -= 1
    rav.decode_skipped["truncated file"] += 1
    rav.skipped["duplicate name"] -= 1  # its Kaggle copy now has other bytes: a name collision to look at
    rav.skipped["name collision"] += 1
    ser = fixtures["urdu_ser"]
    nan = np.full(8000, 0.1, np.float32)
    nan[5] = np.inf
    sf.write(ser.root / "Sad" / "1_0_7_01.wav", nan, 44100, subtype="FLOAT")  # overwrite a sad clip
    ser.kept["sad"] -= 1
    ser.decode_skipped["NaN/inf samples"] += 1
    kai = fixtures["kai_indian"]  # a RAVDESS clip copied into KAI
    shutil.copy(rav.root / "Actor_02" / "03-01-03-01-01-01-02.wav", kai.root / "kai_happy_copy.wav")
    kai.decode_skipped["duplicate content"] += 1
    return fixtures
