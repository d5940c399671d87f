"""
The codec's fuzz target, C{fuzz/fuzz_codec.py}, driven by hypothesis for a
short run in the normal test suite (atheris drives the same L{fuzz_one} for
long, coverage-guided runs: see C{fuzz/README.md}).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from ..strategies import mutated_streams


def _load_fuzz_module() -> ModuleType:
    """Import C{fuzz/fuzz_codec.py} from the checkout (it is not installed)."""
    path = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_codec.py"
    name = "pptwisted_fuzz_codec"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


fuzz_codec = _load_fuzz_module()
#: Valid streams (header and a payload), without the two control bytes.
STREAMS: list[bytes] = [seed[2:] for seed in fuzz_codec.SEEDS]


inputs = st.builds(
    bytes.__add__,
    st.binary(min_size=2, max_size=2),
    st.one_of(mutated_streams(STREAMS), st.binary(max_size=300)),
)


class FuzzTargetTests(SynchronousTestCase):
    def test_seeds(self) -> None:
        """Every seed of the corpus passes."""
        for seed in fuzz_codec.SEEDS:
            fuzz_codec.fuzz_one(seed)
        self.assertGreaterEqual(len(fuzz_codec.SEEDS), 10)

    @settings(
        max_examples=2000,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(inputs)
    def test_fuzz_one(self, data: bytes) -> None:
        """Arbitrary and mutated input: see C{fuzz_one} for what is checked."""
        fuzz_codec.fuzz_one(data)
