"""What the built extension really contains: each ISA variant's machine code
uses only the instructions of its ISA, and the version and license ship with
the installed distribution.

The kernels are compiled once per (ISA, dtype) into one module
(CMakeLists.txt); FN() in csrc/config.h suffixes each variant's global
symbols (``gemm_generic_f32``, ``stream_step_avx2_f64``...). Static
functions carry no suffix, so a variant's code is found by reachability:
from its suffixed functions and the function tables it exports
(``lstmf_variant_generic_f32``, ``lstm_cell_generic_f32``...), follow every
call, jump and address taken (OpenMP outlined bodies, ``.cold`` parts) into
other functions of the module. That is exactly the code the dispatcher runs
for the variant. The module keeps its symbol table for this
(``install.strip = false`` in pyproject.toml), so the test works on an
installed wheel as well as on a build tree.
"""

import bisect
import importlib.metadata
import platform
import re
import shutil
import subprocess
from collections import defaultdict

import pytest

import lstm_fast
from lstm_fast import _core

X86 = platform.machine().lower() in ("x86_64", "amd64")
DTYPES = ("f32", "f64")

# --------------------------------------------------------------- classifiers
# objdump's AT&T syntax: every VEX/EVEX-encoded instruction (AVX, AVX2, FMA,
# AVX-512) has a mnemonic starting with "v"; x86-64 baseline (SSE2) has none.
_AVX_REGISTER = re.compile(r"%[yz]mm\d")
# AVX-512 is EVEX: zmm registers, mask registers k0-k7, registers 16-31,
# {k} masking / {1toN} broadcast / {sae} decorations, or a mnemonic that
# exists only in AVX-512 (which can also run on xmm/ymm under AVX512VL).
_AVX512_OPERAND = re.compile(r"%zmm\d|%k[0-7]\b|%[xyz]mm(1[6-9]|2\d|3[01])\b|\{")
_AVX512_MNEMONIC = re.compile(
    r"^(k\w+"
    r"|vpternlog[dq]|vperm[it]2\w+|vpermw|vrndscale\w+|vscalef\w+|vgetexp\w+"
    r"|vgetmant\w+|vfixupimm\w+|vrange\w+|vreduce\w+|vrcp14\w+|vrsqrt14\w+"
    r"|v(p)?compress\w*|v(p)?expand\w*|vpmov(s|us)?(qb|qw|qd|db|dw|wb)"
    r"|vpmov\w*2m|vpmovm2\w+|vpbroadcastm\w+|vpconflict\w+|vplzcnt\w+"
    r"|vcvt\w*(uqq|udq|usi)\w*|vcvt\w*qq2\w+|vcvtt?ps2qq|vcvtt?pd2qq"
    r"|vpabsq|vp(max|min)[su]q|vpmullq|vpsraq|vpsravq|vpro[lr]\w*"
    r"|v(insert|extract)[fi](32x4|64x2|32x8|64x4)|vshuf[fi](32x4|64x2)|valign[dq]"
    r"|v(p)?blendm\w+|vptestn?m\w+|vpcmpu?[bwdq]|vdbpsadbw|vmovdq[au](8|16|32|64)"
    r"|vbroadcast[fi](32x2|32x4|64x2|32x8|64x4)|vfpclass\w+|vexp2\w+|vrcp28\w+"
    r"|vrsqrt28\w+)$"
)
# Beyond x86-64 baseline without AVX: SSE3, SSSE3, SSE4.1/4.2, POPCNT, BMI,
# LZCNT, MOVBE (x86-64-v2/v3 instructions a compiler emits when its default
# -march is raised, as some distributions' compilers do).
_POST_SSE2_MNEMONIC = re.compile(
    r"^(lddqu|movddup|movs[hl]dup|h(add|sub)p[sd]|addsubp[sd]|fisttp\w*"
    r"|pshufb|palignr|ph(add|sub)s?[wd]|pabs[bwd]|pmaddubsw|pmulhrsw|psign[bwd]"
    r"|blendv?p[sd]|pblend(vb|w)|dpp[sd]|insertps|extractps|mpsadbw|pextr[bdq]"
    r"|pinsr[bdq]|pm(ax|in)(sb|sd|uw|ud)|pmov[sz]x\w+|pmuldq|pmulld|ptest"
    r"|round[ps][sd]|phminposuw|packusdw|pcmpeqq|movntdqa|pcmpgtq|pcmp[ei]str[im]"
    r"|crc32[bwlq]?|popcnt[wlq]?|lzcnt[wlq]?|tzcnt[wlq]?|movbe[wlq]?|andn[lq]?"
    r"|bextr[lq]?|blsi[lq]?|blsmsk[lq]?|blsr[lq]?|bzhi[lq]?|[ms]ulx[lq]?|pdep[lq]?"
    r"|pext[lq]?|rorx[lq]?|sarx[lq]?|shlx[lq]?|shrx[lq]?)$"
)


def is_avx(mnemonic, operands):
    """True if the instruction needs AVX (any VEX or EVEX encoding)."""
    return mnemonic.startswith("v") or bool(_AVX_REGISTER.search(operands))


def is_avx512(mnemonic, operands):
    """True if the instruction needs AVX-512 (EVEX)."""
    return bool(_AVX512_MNEMONIC.match(mnemonic) or _AVX512_OPERAND.search(operands))


def is_post_sse2(mnemonic, operands):
    """True if the instruction is beyond x86-64 baseline but not AVX."""
    return bool(_POST_SSE2_MNEMONIC.match(mnemonic))


# ------------------------------------------------------------ the module's code

def _run(tool, *args):
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True).stdout


class ModuleCode:
    """Functions of the extension module: symbols, relocations, disassembly."""

    def __init__(self, path):
        self.path = path
        self.functions = []      # (start, end, name, bind, file_group)
        self.objects = {}        # name -> (start, end) of global data objects
        self._read_symbols()
        self._starts = [f[0] for f in self.functions]
        self.pointers = self._read_relocations()
        self.code = self._disassemble()

    def _read_symbols(self):
        text = _run("readelf", "-sW", self.path)
        if "Symbol table '.symtab'" not in text:
            pytest.fail(f"{self.path} has no symbol table: it was stripped. pyproject.toml "
                        "sets install.strip = false so that this test can find each ISA "
                        "variant's functions.")
        group = -1
        for line in text.split("Symbol table '.symtab'", 1)[1].splitlines():
            fields = line.split()
            if len(fields) < 8 or not fields[0][:-1].isdigit():
                continue  # the header, or a symbol without a name
            value, size, kind, bind, name = int(fields[1], 16), int(fields[2]), fields[3], \
                fields[4], fields[7]
            if kind == "FILE":
                # The linker writes each input object's local symbols after a
                # FILE symbol naming its source.
                group += 1
            elif kind == "FUNC" and size > 0 and fields[6] != "UND":
                self.functions.append((value, value + size, name, bind,
                                       group if bind == "LOCAL" else None))
            elif kind == "OBJECT" and bind == "GLOBAL" and size > 0:
                self.objects[name] = (value, value + size)
        self.functions.sort()

    def _read_relocations(self):
        """(where, target) of every absolute address the loader writes:
        the entries of the function tables."""
        pointers = []
        for line in _run("readelf", "-rW", self.path).splitlines():
            fields = line.split()
            if len(fields) < 4 or not fields[2].startswith("R_"):
                continue
            try:
                where = int(fields[0], 16)
                if fields[2].endswith("_RELATIVE"):
                    target = int(fields[3], 16)
                elif len(fields) >= 7 and fields[5] == "+":
                    target = int(fields[3], 16) + int(fields[6], 16)
                else:
                    continue
            except ValueError:
                continue
            pointers.append((where, target))
        return pointers

    def function_at(self, address):
        """Index of the function whose code contains ``address``, or None."""
        i = bisect.bisect_right(self._starts, address) - 1
        if i >= 0 and self.functions[i][0] <= address < self.functions[i][1]:
            return i
        return None

    def _disassemble(self):
        """Per function index: list of (mnemonic, operands, referenced addresses)."""
        code = defaultdict(list)
        insn = re.compile(r"^\s*([0-9a-f]+):\s+(\S+)\s*(.*)$")
        ref = re.compile(r"\b([0-9a-f]+) <[^>]+>")
        current = None
        for line in _run("objdump", "-d", "-w", "--no-show-raw-insn", self.path).splitlines():
            m = insn.match(line)
            if not m:
                continue
            address = int(m.group(1), 16)
            if current is None or not (self.functions[current][0] <= address
                                       < self.functions[current][1]):
                current = self.function_at(address)
                if current is None:
                    continue
            mnemonic, operands = m.group(2), m.group(3)
            if mnemonic in ("rep", "repz", "repnz", "lock", "notrack", "bnd", "data16"):
                mnemonic, _, operands = operands.partition(" ")
            targets = [int(a, 16) for a in ref.findall(operands)]
            code[current].append((mnemonic, operands, targets))
        return code

    def variant_roots(self, suffix):
        """Functions a variant exports: its suffixed functions and the entries
        of its suffixed function tables."""
        roots = {i for i, f in enumerate(self.functions)
                 if f[3] != "LOCAL" and f[2].endswith(suffix)}
        for name, (start, end) in self.objects.items():
            if name.endswith(suffix):
                for where, target in self.pointers:
                    if start <= where < end:
                        i = self.function_at(target)
                        if i is not None:
                            roots.add(i)
        return roots

    def reachable(self, roots):
        """Functions reachable from ``roots`` through calls, jumps and taken
        addresses, without entering unsuffixed global functions (the shared
        dispatcher, compiled once)."""
        seen, todo = set(roots), list(roots)
        while todo:
            i = todo.pop()
            for _, _, targets in self.code.get(i, ()):
                for address in targets:
                    j = self.function_at(address)
                    if j is None or j in seen or self.functions[j][3] != "LOCAL":
                        continue
                    seen.add(j)
                    todo.append(j)
        return seen


@pytest.fixture(scope="module")
def module_code():
    if not X86:
        pytest.skip("ISA variants exist on x86-64 only; elsewhere only the generic one is built")
    for tool in ("objdump", "readelf"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} (GNU binutils) is not installed")
    return ModuleCode(_core.__file__)


@pytest.fixture(scope="module")
def variants(module_code):
    """{(isa, dtype): set of function indices} for every compiled variant."""
    out = {}
    for isa in _core.isas_compiled():
        for dt in DTYPES:
            roots = module_code.variant_roots(f"_{isa}_{dt}")
            assert roots, f"no functions of the {isa}/{dt} variant found in {module_code.path}"
            out[isa, dt] = module_code.reachable(roots)
    return out


def _offenders(module_code, functions, predicate):
    bad = {}
    for i in functions:
        hits = [f"{m} {o}".strip() for m, o, _ in module_code.code.get(i, ()) if predicate(m, o)]
        if hits:
            bad[module_code.functions[i][2]] = hits[:3]
    return bad


# ------------------------------------------------------------------- tests

@pytest.mark.parametrize("mnemonic, operands, avx, avx512, post_sse2", [
    ("mulps", "%xmm1,%xmm0", False, False, False),
    ("pextrw", "$0x1,%xmm0,%eax", False, False, False),
    ("vmulps", "%xmm1,%xmm2,%xmm0", True, False, False),
    ("vfmadd231ps", "%ymm1,%ymm2,%ymm0", True, False, False),
    ("vpcmpeqd", "%ymm1,%ymm2,%ymm0", True, False, False),
    ("vpmovmskb", "%ymm0,%eax", True, False, False),
    ("vinsertf128", "$0x1,%xmm1,%ymm0,%ymm0", True, False, False),
    ("vaddps", "%zmm1,%zmm2,%zmm0", True, True, False),
    ("vmovups", "(%rax),%ymm0{%k1}{z}", True, True, False),
    ("vpternlogd", "$0x96,%ymm2,%ymm1,%ymm0", True, True, False),
    ("vmovaps", "%xmm17,%xmm0", True, True, False),
    ("kmovw", "%eax,%k1", False, True, False),
    ("roundps", "$0x1,%xmm1,%xmm0", False, False, True),
    ("popcnt", "%rdi,%rax", False, False, True),
])
def test_instruction_classifiers(mnemonic, operands, avx, avx512, post_sse2):
    # The checks below are only as good as these predicates.
    assert is_avx(mnemonic, operands) == avx
    assert is_avx512(mnemonic, operands) == avx512
    assert is_post_sse2(mnemonic, operands) == post_sse2


def test_variants_are_disjoint_and_cover_their_objects(module_code, variants):
    owner = {}
    for key, functions in variants.items():
        for i in functions:
            assert i not in owner, (f"{module_code.functions[i][2]} is reachable from both "
                                    f"{owner[i]} and {key}: the variants share code")
            owner[i] = key
    # Every static function of an object that holds variant code belongs to
    # that variant: nothing in a kernel object escapes the checks below.
    by_group = defaultdict(list)
    for i, f in enumerate(module_code.functions):
        if f[4] is not None:
            by_group[f[4]].append(i)
    for members in by_group.values():
        keys = {owner.get(i) for i in members}
        if keys == {None}:
            continue  # not kernel code (the Cython module, the dispatcher, libgcc)
        names = [module_code.functions[i][2] for i in members if i not in owner]
        assert None not in keys, f"functions of a kernel object reached by no variant: {names}"
        assert len(keys) == 1, f"one object's functions in several variants: {keys}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_generic_variant_has_no_avx(module_code, variants, dtype):
    functions = variants["generic", dtype]
    bad = _offenders(module_code, functions, is_avx)
    assert not bad, f"the baseline (generic) kernels contain AVX instructions: {bad}"
    n = sum(len(module_code.code.get(i, ())) for i in functions)
    assert n > 1000, f"only {n} instructions found in the generic/{dtype} variant"


@pytest.mark.parametrize("dtype", DTYPES)
def test_generic_variant_stays_within_x86_64_baseline(module_code, variants, dtype):
    bad = _offenders(module_code, variants["generic", dtype], is_post_sse2)
    assert not bad, ("the baseline (generic) kernels use instructions beyond x86-64 "
                     f"(SSE2): {bad}. Was the compiler's default -march raised?")


@pytest.mark.parametrize("dtype", DTYPES)
def test_avx2_variant_has_no_avx512_but_has_avx(module_code, variants, dtype):
    if "avx2" not in _core.isas_compiled():
        pytest.skip("this build has no AVX2 variant")
    functions = variants["avx2", dtype]
    bad = _offenders(module_code, functions, is_avx512)
    assert not bad, f"the AVX2 kernels contain AVX-512 instructions: {bad}"
    # The positive control: the same scan does find the variant's own ISA.
    assert _offenders(module_code, functions, lambda m, o: "%ymm" in o and m.startswith("vfmadd"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_avx512_variant_uses_avx512(module_code, variants, dtype):
    if "avx512" not in _core.isas_compiled():
        pytest.skip("this build has no AVX-512 variant")
    assert _offenders(module_code, variants["avx512", dtype], lambda m, o: "%zmm" in o)


# ------------------------------------------------------ version and license

def test_version_is_the_installed_distributions():
    # _version.py is the one place the version is written; the build copies
    # it into the metadata (and the wheel's name, checked by
    # tools/check_wheel.sh).
    assert lstm_fast.__version__ == importlib.metadata.version("lstm-fast")
    assert lstm_fast._config.config()["version"] == lstm_fast.__version__


def test_distribution_ships_the_license_and_its_version_module():
    dist = importlib.metadata.distribution("lstm-fast")
    files = [str(f) for f in dist.files or ()]
    licenses = [f for f in files if f.endswith("LICENSE") and ".dist-info" in f]
    assert licenses, f"no LICENSE in the installed distribution's metadata: {files[:20]}"
    text = dist.locate_file(licenses[0]).read_text()
    assert "BSD" in text or "Redistribution" in text
    assert dist.metadata["License-Expression"] == "BSD-3-Clause"
    assert any(f.replace("\\", "/").endswith("lstm_fast/_version.py") for f in files)
