from setuptools import find_packages, setup

setup(
    name="devpi-twisted",
    version="0.1.0",
    description="A PyPI caching mirror and private package index server on Twisted",
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.9",
    packages=find_packages(include=["devpi_twisted", "devpi_twisted.*"])
    + ["twisted.plugins"],
    install_requires=[
        "twisted>=24.3",
        "treq>=23.11",
        "klein>=23.12",
        "service-identity>=24.1",
        "passlib>=1.7.4",
        "argon2-cffi>=23.1",
        "zope.interface>=6.0",
        "packaging>=24.0",
    ],
    extras_require={
        # e2e clients: devpi-client (brings build, requests), twine, uv (wheel with its binary)
        "test": ["devpi-client>=7,<8", "twine>=5", "uv>=0.4", "requests>=2.28"],
        # tox -e typecheck: mypy with the zope.interface plugin, stubs for passlib
        "typecheck": ["mypy>=2.0,<3", "mypy-zope>=1.0.17,<2", "types-passlib>=1.7"],
    },
    entry_points={"console_scripts": ["devpi-twisted = devpi_twisted.commands:main"]},
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
        "Topic :: System :: Software Distribution",
    ],
)
