"""Builds the compiled core, fuzzmm._core, from the Cython sources in pyx/."""
from Cython.Build import cythonize
from setuptools import Extension, setup

core = Extension(
    "fuzzmm._core",
    sources=["pyx/_core.pyx"],
    include_dirs=["pyx"],
    extra_compile_args=["-O2"],
)

setup(
    ext_modules=cythonize(
        [core],
        include_path=["pyx"],
        compiler_directives={"language_level": "3"},
    ),
)
