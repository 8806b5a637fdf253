"""Small .npy files written by NumPy for tests/data/npy_test.cpp, and the check that NumPy
reads back what neurona writes.

Needs a python3 with NumPy. On this project's Debian machines that is /usr/bin/python3 with
Debian's python3-numpy (the pyenv python3 that may come first on PATH has no NumPy). Rerun
from the repository root:

    /usr/bin/python3 tests/reference/make_npy_references.py

It rewrites tests/reference/data/*.npy (and data/cli/*.npy, the images that
tools/cli_test.cmake gives `neurona predict`); the values are fixed formulas, so a rerun gives the
same arrays (the files differ only if NumPy changes its header padding). The C++ test knows
the same formulas and checks every value.

The other direction, once by hand (CI needs no Python):

    NEURONA_NPY_WRITE_DIR=/tmp/npy_out build/tests/neurona_tests \
        --gtest_filter='NpyReference.*'
    /usr/bin/python3 tests/reference/make_npy_references.py --check /tmp/npy_out

The test loads each reference file and saves it again with neurona::data::save_npy into that
folder; --check loads those with numpy.load and compares them with the arrays written here.
"""
import argparse
import os
import sys

import numpy as np


def references():
    """name -> (array as NumPy writes it, how to write it: format version or None)."""
    f32_2d = np.array([[0.0, -1.5, 1.0 / 3.0, 3.14159265],
                       [1e-30, -0.0, 65504.0, 2.0 ** -20],
                       [123456.789, -7.25, 1e30, 0.1]], dtype=np.float32)
    i64_1d = np.array([-(2 ** 62), -1, 0, 1, 2 ** 40 + 3], dtype=np.int64)
    u8_3d = (np.arange(24, dtype=np.int64).reshape(2, 3, 4) * 11 % 256).astype(np.uint8)
    f64_scalar = np.array(2.5, dtype=np.float64)  # shape ()
    # Stored column-major: the file's bytes are in Fortran order; values are i*12 + j*4 + k.
    f32_fortran = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    i32_2d = np.array([[-2147483648, 2147483647, 0], [5, -5, 12345]], dtype=np.int32)
    bool_1d = np.array([True, False, True, True], dtype=np.bool_)
    i16_be = np.array([-300, 0, 300, 32767], dtype='>i2')
    f64_be = np.array([[1.5, -2.25], [1e300, -1e-300]], dtype='>f8')
    f32_empty = np.zeros((0, 3), dtype=np.float32)
    f32_v2 = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    f32_v3 = np.arange(6, dtype=np.float32).reshape(3, 2) / 8
    return {
        'f32_2d': (f32_2d, None),
        'i64_1d': (i64_1d, None),
        'u8_3d': (u8_3d, None),
        'f64_scalar': (f64_scalar, None),
        'f32_fortran': (f32_fortran, None),
        'i32_2d': (i32_2d, None),
        'bool_1d': (bool_1d, None),
        'i16_be': (i16_be, None),
        'f64_be': (f64_be, None),
        'f32_empty': (f32_empty, None),
        'f32_v2': (f32_v2, (2, 0)),
        'f32_v3': (f32_v3, (3, 0)),
    }


def cli_inputs():
    """name -> images for `neurona predict` in tools/cli_test.cmake (data/cli/): the shapes it
    accepts for the 28x28x1 models, and 5x5 images that it must refuse naming both shapes."""
    pixels = np.arange(2 * 28 * 28, dtype=np.int64)
    u8_images = ((pixels * 37 + pixels // 28 * 11) % 256).astype(np.uint8).reshape(2, 28, 28)
    f32_image = (u8_images[1].astype(np.float32) / 255).reshape(28, 28, 1)
    u8_5x5 = (np.arange(3 * 5 * 5) * 7 % 256).astype(np.uint8).reshape(3, 5, 5)
    return {'u8_images_2x28x28': u8_images, 'f32_image_28x28x1': f32_image,
            'u8_images_3x5x5': u8_5x5}


# The dtype neurona gives each array when it reads it (and so writes it back).
NEURONA_DTYPE = {'bool': np.uint8, 'int16': np.int32}


def write(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, (arr, version) in references().items():
        path = os.path.join(out_dir, name + '.npy')
        if version is None:
            np.save(path, arr)
        else:
            with open(path, 'wb') as f:
                np.lib.format.write_array(f, arr, version=version)
        back = np.load(path)
        assert back.dtype == arr.dtype and np.array_equal(back, arr), name
        print(f'wrote {path}: {arr.dtype.str} {arr.shape}'
              f'{" fortran_order" if np.isfortran(arr) else ""}')
    os.makedirs(os.path.join(out_dir, 'cli'), exist_ok=True)
    for name, arr in cli_inputs().items():
        path = os.path.join(out_dir, 'cli', name + '.npy')
        np.save(path, arr)
        print(f'wrote {path}: {arr.dtype.str} {arr.shape}')


def check(in_dir):
    failures = 0
    for name, (arr, _) in references().items():
        path = os.path.join(in_dir, name + '.npy')
        got = np.load(path)
        want_dtype = np.dtype(NEURONA_DTYPE.get(arr.dtype.name, arr.dtype.newbyteorder('=')))
        ok = (got.dtype == want_dtype and got.shape == arr.shape and np.array_equal(got, arr)
              and got.flags.c_contiguous)
        failures += not ok
        print(f'{"ok  " if ok else "FAIL"} {path}: {got.dtype.str} {got.shape}'
              f' (expected {want_dtype.str} {arr.shape})')
    print(f'{len(references()) - failures} of {len(references())} files read back by NumPy '
          f'{np.__version__} with the expected dtype, shape and values')
    return failures == 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--check', metavar='DIR',
                        help='compare the .npy files neurona wrote into DIR with the references')
    args = parser.parse_args()
    if args.check:
        sys.exit(0 if check(args.check) else 1)
    write(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data'))


if __name__ == '__main__':
    main()
