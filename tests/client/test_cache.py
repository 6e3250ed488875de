"""Client tests: the per-user disk cache, its lock, lookup order and failures."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from toutvfs.client import cache as cache_module
from toutvfs.client.cache import FORMAT_VERSION, UserCache, candidate_directories

USER = "ana@example.test"


def open_cache(directory: Path, user: str = USER, **kwargs) -> UserCache:
    return UserCache.open(user, env={"TOUTV3_CACHE_DIR": str(directory)}, **kwargs)


def test_lookup_order_env_first(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    env = {"TOUTV3_CACHE_DIR": str(tmp_path / "explicit")}
    candidates = candidate_directories(env, cwd=tmp_path / "work")
    assert candidates == [
        tmp_path / "explicit",
        tmp_path / "xdg" / "toutv3",
        tmp_path / "work" / ".toutv3-cache",
    ]


def test_lookup_order_without_env(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    candidates = candidate_directories({}, cwd=tmp_path)
    assert candidates == [tmp_path / "xdg" / "toutv3", tmp_path / ".toutv3-cache"]


def test_lookup_home_cache_without_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    candidates = candidate_directories({}, cwd=tmp_path)
    assert candidates[0] == tmp_path / "home" / ".cache" / "toutv3"


def test_read_only_directory_falls_back(tmp_path, monkeypatch):
    # sysfs rejects mkdir even for root, which a chmod 0500 directory does not.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    env = {"TOUTV3_CACHE_DIR": "/sys/toutv3-cache-test"}
    cache = UserCache.open(USER, env=env, cwd=tmp_path)
    assert cache.path is not None
    assert cache.path.parent == tmp_path / "xdg" / "toutv3"
    cache.release()


def test_file_in_the_way_falls_back(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path is not None
    assert cache.path.parent == tmp_path / ".toutv3-cache"
    cache.release()


def test_unusable_directories_give_no_cache(tmp_path, monkeypatch, caplog):
    # A regular file where each directory should be: mkdir fails even as root.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr(
        cache_module,
        "candidate_directories",
        lambda env, cwd: [blocker / "a", blocker / "b"],
    )
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = UserCache.open(USER)
    assert cache.store is None
    assert cache.save() is False
    cache.release()
    assert "no usable cache directory" in caplog.text


def test_modes_and_round_trip(tmp_path):
    directory = tmp_path / "cache"
    cache = open_cache(directory)
    assert cache.store is not None
    cache.store.put("k1", {"a": [1, 2, "é"]})
    cache.release()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(path.name for path in directory.iterdir())
    assert len(files) == 2
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(cache.path.read_text(encoding="utf-8"))
    assert document["format"] == FORMAT_VERSION
    assert document["entries"][0]["key"] == "k1"
    again = open_cache(directory)
    assert again.store.get("k1") == {"a": [1, 2, "é"]}
    again.release()


def test_file_name_hides_user(tmp_path):
    cache = open_cache(tmp_path)
    assert USER not in cache.path.name
    assert "ana" not in cache.path.name
    cache.release()


def test_expired_entries_not_loaded(tmp_path):
    now = [1000.0]
    cache = open_cache(tmp_path, ttl=30 * 60, clock=lambda: now[0])
    cache.store.put("old", 1)
    cache.store.put("short", 2, ttl=10)
    cache.release()
    now[0] += 60
    again = open_cache(tmp_path, clock=lambda: now[0])
    assert again.store.get("old") == 1
    assert again.store.get("short") is None
    now[0] += 30 * 60
    assert again.store.get("old") is None
    again.release()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00",
        json.dumps({"format": 99, "entries": []}).encode(),
        json.dumps(["a", "list"]).encode(),
        json.dumps({"format": FORMAT_VERSION, "entries": [{"key": 1}, 3]}).encode(),
    ],
)
def test_corrupt_file_ignored_and_replaced(tmp_path, content, caplog):
    first = open_cache(tmp_path)
    path = first.path
    first.release()
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(tmp_path)
    assert len(cache.store) == 0
    cache.store.put("fresh", True)
    cache.release()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == FORMAT_VERSION
    assert [entry["key"] for entry in document["entries"]] == ["fresh"]


def test_second_client_gets_no_cache(tmp_path, caplog):
    first = open_cache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        second = open_cache(tmp_path)
    assert first.locked
    assert not second.locked
    assert second.store is None
    assert "locked by another client" in caplog.text
    first.release()
    third = open_cache(tmp_path)
    assert third.locked
    third.release()


def test_other_user_has_own_cache(tmp_path):
    first = open_cache(tmp_path)
    other = open_cache(tmp_path, user="bob@example.test")
    assert first.locked
    assert other.locked
    assert first.path != other.path
    first.release()
    other.release()


def test_two_processes_one_cache(tmp_path, caplog):
    script = textwrap.dedent(
        f"""
        import sys
        from toutvfs.client.cache import UserCache
        cache = UserCache.open({USER!r}, env={{"TOUTV3_CACHE_DIR": {str(tmp_path)!r}}})
        print("locked" if cache.locked else "unlocked", flush=True)
        sys.stdin.readline()
        cache.store.put("from-child", 1)
        cache.release()
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout.readline().strip() == "locked"
            with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
                mine = open_cache(tmp_path)
            assert not mine.locked
            assert "locked by another client" in caplog.text
            child.stdin.write("\n")
            child.stdin.flush()
            assert child.wait(timeout=30) == 0
        finally:
            if child.poll() is None:
                child.kill()
    after = open_cache(tmp_path)
    assert after.store.get("from-child") == 1
    after.release()


def test_save_failure_does_not_raise(tmp_path, monkeypatch, caplog):
    cache = open_cache(tmp_path)
    cache.store.put("k", 1)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.tempfile, "mkstemp", full)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        assert cache.save() is False
    assert "No space left on device" in caplog.text
    cache.release()
    assert not cache.path.exists()


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    cache = open_cache(tmp_path)
    cache.store.put("k", "old")
    assert cache.save()
    before = cache.path.read_bytes()
    cache.store.put("k", "new")

    def broken_replace(source, target):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cache_module.os, "replace", broken_replace)
    assert cache.save() is False
    assert cache.path.read_bytes() == before
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    monkeypatch.undo()
    cache.release()


def test_release_twice(tmp_path):
    cache = open_cache(tmp_path)
    cache.release()
    cache.release()
    assert not cache.locked


def test_no_home_falls_back_to_working_directory(tmp_path, monkeypatch):
    def no_home(name):
        raise KeyError("HOME")

    monkeypatch.setattr(cache_module.platformdirs, "user_cache_dir", no_home)
    assert candidate_directories({}, cwd=tmp_path) == [tmp_path / ".toutv3-cache"]
    cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path.parent == tmp_path / ".toutv3-cache"
    cache.release()


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Forget the directories that earlier tests were warned about."""
    monkeypatch.setattr(cache_module, "_warned_shared", set())


def shared_directory(path: Path) -> Path:
    path.mkdir(parents=True)
    path.chmod(0o755)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_user_cache_created_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path is not None
    assert cache.path.parent == tmp_path / "xdg" / "toutv3"
    cache.release()
    assert mode_of(tmp_path / "xdg" / "toutv3") == 0o700


def test_user_cache_tightened_to_0700(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    directory = shared_directory(tmp_path / "xdg" / "toutv3")
    with caplog.at_level(logging.INFO, logger="toutvfs.client.cache"):
        cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path is not None
    assert cache.path.parent == directory
    cache.store.put("k", 1)
    cache.release()
    assert mode_of(directory) == 0o700
    assert mode_of(cache.path) == 0o600
    assert "changed from mode 755 to 700" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_fallback_cache_tightened_to_0700(tmp_path, monkeypatch):
    monkeypatch.setattr(
        cache_module,
        "candidate_directories",
        lambda env, cwd: [tmp_path / ".toutv3-cache"],
    )
    directory = shared_directory(tmp_path / ".toutv3-cache")
    cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path.parent == directory
    cache.release()
    assert mode_of(directory) == 0o700


def test_user_cache_of_other_user_skipped(tmp_path, monkeypatch, caplog):
    other = shared_directory(tmp_path / "xdg" / "toutv3")
    monkeypatch.setattr(cache_module, "candidate_directories", lambda env, cwd: [other])
    owner = other.stat().st_uid
    # The process runs as a user other than the directory's owner, which works
    # without root, unlike a chown.
    monkeypatch.setattr(cache_module.os, "geteuid", lambda: owner + 1)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path is None
    assert cache.store is None
    cache.release()
    assert mode_of(other) == 0o755
    assert list(other.iterdir()) == []
    message = f"belongs to user id {owner}, not to this user ({owner + 1})"
    assert message in caplog.text
    assert "no usable cache directory" in caplog.text


def test_chmod_failure_skips_directory(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    directory = shared_directory(tmp_path / "xdg" / "toutv3")
    fallback = shared_directory(tmp_path / ".toutv3-cache")

    def chmod_not_permitted(path, mode):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(cache_module.os, "chmod", chmod_not_permitted)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = UserCache.open(USER, env={}, cwd=tmp_path)
    assert cache.path is None
    assert cache.store is None
    assert cache.save() is False
    cache.release()
    assert mode_of(directory) == 0o755
    assert mode_of(fallback) == 0o755
    assert caplog.text.count("cannot change the mode of cache directory") == 2
    assert "no usable cache directory" in caplog.text


def test_named_directory_created_private(tmp_path, fresh_warnings, caplog):
    directory = tmp_path / "named"
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(directory)
    cache.release()
    assert mode_of(directory) == 0o700
    assert caplog.records == []


def test_named_directory_mode_kept(tmp_path, fresh_warnings, caplog):
    directory = shared_directory(tmp_path / "named")
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        first = open_cache(directory)
        first.store.put("k", 1)
        first.release()
        second = open_cache(directory)
        second.release()
    assert mode_of(directory) == 0o755
    files = sorted(directory.iterdir())
    assert [path.suffix for path in files] == [".json", ".lock"]
    for path in files:
        assert mode_of(path) == 0o600
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "has mode 755" in warnings[0].getMessage()
    assert f"chmod 700 {directory}" in warnings[0].getMessage()


def test_named_private_directory_no_warning(tmp_path, fresh_warnings, caplog):
    directory = tmp_path / "named"
    directory.mkdir()
    directory.chmod(0o700)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(directory)
    cache.release()
    assert mode_of(directory) == 0o700
    assert caplog.records == []


def test_existing_files_made_private(tmp_path, fresh_warnings):
    first = open_cache(tmp_path / "named")
    first.store.put("k", 1)
    first.release()
    lock = first.path.with_suffix(".lock")
    first.path.chmod(0o644)
    lock.chmod(0o644)
    again = open_cache(tmp_path / "named")
    assert mode_of(lock) == 0o600
    assert again.store.get("k") == 1
    again.release()
    assert mode_of(again.path) == 0o600


def test_lock_symlink_not_followed(tmp_path, fresh_warnings, caplog):
    # Another user who can write the directory put a link in place of the lock.
    directory = tmp_path / "named"
    directory.mkdir()
    directory.chmod(0o700)
    target = tmp_path / "victim.txt"
    target.write_bytes(b"not a lock")
    target.chmod(0o644)
    lock = directory / (cache_module.file_stem(USER) + ".lock")
    lock.symlink_to(target)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(directory)
    assert target.read_bytes() == b"not a lock"
    assert mode_of(target) == 0o644
    assert lock.is_symlink()
    assert not cache.locked
    assert cache.store is None
    assert cache.save() is False
    cache.release()
    assert sorted(path.name for path in directory.iterdir()) == [lock.name]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "is a symbolic link" in warnings[0].getMessage()
    assert str(lock) in warnings[0].getMessage()


def planted_document() -> bytes:
    entry = {"key": "planted", "expires": 4e9, "value": "from another user"}
    return json.dumps({"format": FORMAT_VERSION, "entries": [entry]}).encode()


def private_directory(path: Path) -> Path:
    path.mkdir()
    path.chmod(0o700)
    return path


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_cache_symlink_not_followed(tmp_path, fresh_warnings, caplog):
    # Another user who can write the directory put a link in place of the cache.
    directory = private_directory(tmp_path / "named")
    target = tmp_path / "victim.json"
    target.write_bytes(planted_document())
    target.chmod(0o644)
    path = directory / (cache_module.file_stem(USER) + ".json")
    path.symlink_to(target)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(directory)
        assert cache.locked
        assert len(cache.store) == 0
        assert cache.store.get("planted") is None
        cache.store.put("fresh", 1)
        cache.release()
    assert target.read_bytes() == planted_document()
    assert mode_of(target) == 0o644
    # The save renames a new file over the link, never writing through it.
    assert not path.is_symlink()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [entry["key"] for entry in document["entries"]] == ["fresh"]
    assert cache_warnings(caplog) == [
        f"ignoring cache {path} and starting empty, because it is a symbolic "
        "link, which the client does not follow. Remove the link if you did "
        "not make it"
    ]


def test_cache_of_other_user_ignored(tmp_path, fresh_warnings, monkeypatch, caplog):
    directory = private_directory(tmp_path / "named")
    path = directory / (cache_module.file_stem(USER) + ".json")
    path.write_bytes(planted_document())
    owner = path.stat().st_uid
    # The process runs as a user other than the file's owner, which works
    # without root, unlike a chown.
    monkeypatch.setattr(cache_module.os, "geteuid", lambda: owner + 1)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(directory)
        assert cache.locked
        assert len(cache.store) == 0
        cache.store.put("fresh", 1)
        cache.release()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert [entry["key"] for entry in document["entries"]] == ["fresh"]
    assert cache_warnings(caplog) == [
        f"ignoring cache {path} and starting empty, because it belongs to user "
        f"id {owner}, not to this user ({owner + 1})"
    ]


@pytest.mark.timeout(10)
def test_cache_fifo_not_read(tmp_path, fresh_warnings, caplog):
    # Opening a FIFO for reading would wait for a writer that never comes.
    directory = private_directory(tmp_path / "named")
    path = directory / (cache_module.file_stem(USER) + ".json")
    os.mkfifo(path, 0o600)
    with caplog.at_level(logging.WARNING, logger="toutvfs.client.cache"):
        cache = open_cache(directory)
        assert cache.locked
        assert len(cache.store) == 0
        cache.release()
    assert cache_warnings(caplog) == [
        f"ignoring cache {path} and starting empty, because it is not a regular file"
    ]
