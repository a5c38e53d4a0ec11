"""Archives: a ``.tar``, ``.tar.gz`` or ``.tar.xz`` of either layout, decoded without extracting it.

One streaming pass checks every member (no absolute paths, ``..``, links or special files: such an
archive is refused as a whole) and reads the batch and image files into memory.  Nothing is written to
disk, so no member name can point anywhere, and nothing is ever half-extracted; it is also much faster:
creating 60,000 small files costs far more than decoding them.
"""

from __future__ import annotations

import contextlib
import lzma
import tarfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from dlrepro.data.cifar10.dataset import (
    ARCHIVE_MD5,
    ARCHIVE_NAME,
    FILE_MD5,
    IMAGE_FOLDER,
    IMAGE_SUFFIXES,
    OFFICIAL,
    OFFICIAL_FILES,
    SPLITS,
    Arrays,
    Namer,
    one_line,
    progress,
    size_limit,
)
from dlrepro.data.cifar10.imagefolder import Tree, decode_image_folder, image_listing
from dlrepro.data.cifar10.official import check_md5, decode_official, md5_file
from dlrepro.errors import DatasetError

Members = dict[str, bytes | None]  # normalized member name -> bytes (None: a file we do not need)


def decode_archive(archive: Path, verify: bool) -> tuple[Arrays, str]:
    """Check and decode an archive of either layout; return the arrays and the layout found inside."""
    if verify and archive.name == ARCHIVE_NAME:
        check_md5(md5_file(archive), ARCHIVE_MD5, str(archive))
    files = read_archive(archive)
    found = _layout_of_names(files, archive)
    if found is None:
        raise DatasetError(
            f"archive {archive} holds neither CIFAR-10 batch files nor train/ and test/ class folders: "
            "it is not a CIFAR-10 copy"
        )
    layout, prefix = found
    namer = _member_namer(archive, prefix)
    if layout == OFFICIAL:
        return decode_official(_official_members(files, prefix, archive), namer, verify), OFFICIAL
    return decode_image_folder(image_listing(_tree_from_names(files, prefix), namer), verify), IMAGE_FOLDER


def read_archive(archive: Path) -> Members:
    """One streaming pass over ``archive``: every member checked, the files a layout names (batch files, and
    images in a train/ or test/ class folder) read into memory, each at most what such a file can hold
    (`size_limit`); other members are listed, never read."""
    files: Members = {}
    with _open_tar(archive) as tar, progress(desc=f"reading {archive.name}", unit="file") as bar:
        for member in tar:
            _check_member(member, archive)
            if not member.isfile():
                continue
            name = str(PurePosixPath(member.name))  # drops "./" and doubled slashes
            stream = tar.extractfile(member) if _named_by_a_layout(name) else None  # a file always has a stream
            if stream is not None:
                limit, what = size_limit(PurePosixPath(name).name)
                if member.size > limit:
                    raise DatasetError(f"archive {archive} member {name} is {member.size:,} bytes, more than "
                                       f"{what} can be ({limit:,}): it is not a CIFAR-10 file; remove it")
            files[name] = stream.read(limit) if stream is not None else None
            bar.update(1)
    return files


def _named_by_a_layout(name: str) -> bool:
    """A batch file anywhere (one folder of them, checked later), or an image in <split>/<class>/."""
    parts = PurePosixPath(name).parts
    if parts[-1] in FILE_MD5:
        return True
    return name.lower().endswith(IMAGE_SUFFIXES) and len(parts) >= 3 and parts[-3] in SPLITS


@contextlib.contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    """Open an archive (any compression); read errors anywhere inside become one DatasetError."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            yield tar
    except DatasetError:
        raise
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error) as exc:
        raise DatasetError(f"archive {archive} is truncated or corrupt ({one_line(exc)}): re-download it") from exc


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse a member that could write outside the target folder or create anything but files/folders."""
    path = PurePosixPath(member.name)
    drive = member.name[:1].isalpha() and member.name[1:2] == ":"  # C:... on Windows
    if path.is_absolute() or member.name.startswith("\\") or drive:
        reason = "absolute path"
    elif ".." in path.parts:
        reason = "'..' path component"
    elif member.issym() or member.islnk():
        reason = "symbolic or hard link"
    elif not (member.isfile() or member.isdir()):
        reason = "device, FIFO or other special file"
    else:
        return
    raise DatasetError(
        f"archive {archive} has an unsafe member {member.name!r} ({reason}): refusing to read it; "
        "use a trusted copy, e.g. re-download the official archive"
    )


def _layout_of_names(files: Members, archive: Path) -> tuple[str, str] | None:
    """(layout, folder prefix) of an archive's file names, as `locate.find_layout` does for directories."""
    paths = [PurePosixPath(name) for name in files]
    batch_dirs = sorted({str(p.parent) for p in paths if p.name in FILE_MD5})
    if len(batch_dirs) > 1:
        raise DatasetError(
            f"archive {archive} has CIFAR-10 batch files in several folders ({', '.join(batch_dirs)}): "
            "repack it with a single copy"
        )
    if batch_dirs:
        return OFFICIAL, batch_dirs[0]
    tops = {p.parts[0] for p in paths if len(p.parts) > 1 and not p.parts[0].startswith(".")}
    tops.discard("__MACOSX")
    if set(SPLITS) <= tops:
        return IMAGE_FOLDER, "."
    if len(tops) == 1:  # one wrapping folder
        (top,) = tops
        if set(SPLITS) <= {p.parts[1] for p in paths if len(p.parts) > 2 and p.parts[0] == top}:
            return IMAGE_FOLDER, top
    return None


def _member_namer(archive: Path, prefix: str) -> Namer:
    return lambda name: f"{PurePosixPath(prefix, name)} in archive {archive}"


def _official_members(files: Members, prefix: str, archive: Path) -> dict[str, bytes]:
    """The seven official files' bytes from an archive; a missing one is a DatasetError naming it."""
    blobs = {}
    for name in OFFICIAL_FILES:
        member = str(PurePosixPath(prefix, name))
        blob = files.get(member)
        if blob is None:
            raise DatasetError(
                f"archive {archive} has no member {member}: the copy is incomplete; re-download {ARCHIVE_NAME}"
            )
        blobs[name] = blob
    return blobs


def _tree_from_names(files: Members, prefix: str) -> Tree:
    """The class folders under ``prefix`` of an archive, as a Tree of member bytes."""
    base = PurePosixPath(prefix)
    tree: Tree = {split: {} for split in SPLITS}
    for name, payload in files.items():
        path = PurePosixPath(name)
        if not path.is_relative_to(base):
            continue
        parts = path.relative_to(base).parts
        if len(parts) < 3 or parts[0] not in SPLITS or any(part.startswith(".") for part in parts):
            continue  # not inside a class folder (files next to train/ and test/ are ignored), or hidden
        split, class_name, *rest = parts
        tree[split].setdefault(class_name, {})["/".join(rest)] = payload
    return tree
