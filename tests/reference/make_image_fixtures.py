"""Small PNG and JPEG files in class folders, and how PIL decodes them, for
tests/data/image_io_test.cpp (decode_image, read_image, image_dataset_from_directory).

Runs with PIL (Pillow) in the PyPI-reachable python3; rerun from the repository root with

    python3 tests/reference/make_image_fixtures.py

It rewrites tests/reference/images/: folder `classes/` with the class folders `cats` and `dogs`
(one nested folder; a file at the top, which labels="inferred" leaves out; a .txt file, which
is ignored), and expected.txt, one array a line (`name dim0 ... : v0 v1 ...`): for every image
its pixels as decoded with the file's own channels (`<path>`), converted to RGB (`<path> rgb`),
and to grayscale (`<path> grayscale`, PIL's convert("L"): ITU-R 601, rounded).
"""
import os
import shutil

import numpy as np
import PIL
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")
CLASSES = os.path.join(ROOT, "classes")


def pattern(h, w, c, seed):
    rng = np.random.default_rng(seed)
    # Smooth content (a gradient plus a little noise), which JPEG keeps close to the source.
    y, x = np.mgrid[0:h, 0:w]
    base = (y * 255 // max(h - 1, 1) + x * 128 // max(w - 1, 1)) // 2
    planes = [np.clip(base + 40 * k + rng.integers(0, 8, (h, w)), 0, 255) for k in range(c)]
    return np.stack(planes, -1).astype(np.uint8)


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(os.path.join(CLASSES, "cats", "nested"))
    os.makedirs(os.path.join(CLASSES, "dogs"))
    files = {
        "cats/a.png": Image.fromarray(pattern(5, 7, 3, 1), "RGB"),
        "cats/b.jpg": Image.fromarray(pattern(6, 4, 3, 2), "RGB"),
        "cats/nested/c.png": Image.fromarray(pattern(4, 4, 4, 3), "RGBA"),
        "dogs/d.png": Image.fromarray(pattern(3, 5, 1, 4)[:, :, 0], "L"),
        "dogs/e.JPEG": Image.fromarray(pattern(8, 8, 1, 5)[:, :, 0], "L"),
        "dogs/f.png": Image.fromarray(pattern(4, 6, 3, 6), "RGB").quantize(colors=5),
        "top.png": Image.fromarray(pattern(2, 2, 3, 7), "RGB"),
    }
    lines = [f"# Pillow {PIL.__version__}"]
    for rel, image in files.items():
        path = os.path.join(CLASSES, rel)
        if rel.lower().endswith((".jpg", ".jpeg")):
            image.save(path, format="JPEG", quality=95)
        else:
            image.save(path, format="PNG")
        decoded = Image.open(path)
        native = decoded.convert("RGB") if decoded.mode == "P" else decoded
        for name, array in ((rel, np.asarray(native)), (rel + " rgb", np.asarray(decoded.convert("RGB"))),
                            (rel + " grayscale", np.asarray(decoded.convert("L")))):
            if array.ndim == 2:
                array = array[:, :, None]
            dims = " ".join(str(d) for d in array.shape)
            lines.append(f"{name.replace(' ', ':')} {dims} : " + " ".join(str(v) for v in array.reshape(-1)))
    with open(os.path.join(CLASSES, "notes.txt"), "w") as f:
        f.write("not an image\n")
    with open(os.path.join(ROOT, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
