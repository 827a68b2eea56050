from setuptools import find_packages, setup


def get_version():
    scope = {}
    with open('mmbinary/version.py') as f:
        exec(f.read(), scope)
    return scope['__version__']


def readme():
    with open('README.md') as f:
        return f.read()


def parse_requirements(path):
    with open(path) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


setup(
    name='mmbinary',
    version=get_version(),
    description='Binary neural networks (1-bit weights and activations) for MMPose and mmpretrain',
    long_description=readme(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(exclude=('configs', 'tools', 'demo', 'tests')),
    # the native 1-bit conv is compiled from these on first use (mmbinary/ops/build.py)
    package_data={
        'mmbinary.ops': ['csrc/*.h', 'csrc/*.cpp'],
        'mmbinary.ops.openvino_ext': ['CMakeLists.txt', '*.cpp'],
    },
    python_requires='>=3.9',
    # Only what pip may install safely. mmcv, mmengine and mmpose are the user's to choose
    # (requirements/mminstall.txt, checked on import), as is torchvision (it must match torch).
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require={
        'mim': parse_requirements('requirements/mminstall.txt'),
        'tests': parse_requirements('requirements/tests.txt'),
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
