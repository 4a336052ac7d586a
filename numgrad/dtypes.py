"""DType objects mirroring tf.dtypes: float16/32/64, bfloat16, complex64/128, int32/64, bool.

A DType wraps a NumPy dtype and answers the questions gradients() asks: is it floating,
integer, differentiable?  ``as_dtype`` accepts a DType, a NumPy dtype or type, or a name.
``bfloat16``'s NumPy dtype comes from the optional ml_dtypes package, imported the first time
it is needed (numgrad/bf16.py; an ImportError says how to install it).
"""
import numpy as np

from . import bf16 as _bf16

__all__ = ["DType", "as_dtype", "float16", "bfloat16", "float32", "float64", "complex64",
           "complex128", "int32", "int64", "bool_", "half", "double"]


class DType:
    """An element type (tf.compat.v1.DType): `name`, `as_numpy_dtype`, `np` and the is_* questions.
    Compare with ==, which also accepts NumPy dtypes and names; ng.as_dtype converts them. The
    instances are ng.float16/32/64, ng.complex64/128, ng.int32/64 and ng.bool."""
    __slots__ = ("name", "as_numpy_dtype", "_np")

    def __init__(self, name, np_dtype):
        self.name = name
        self._np = np.dtype(np_dtype)
        self.as_numpy_dtype = self._np.type

    @property
    def np(self):
        """The numpy.dtype instance."""
        return self._np

    @property
    def kind(self):
        """The NumPy kind letter of the values: 'f' floating (bfloat16 too, whose NumPy dtype
        is an ml_dtypes type of kind 'V'), 'i'/'u' integer, 'b' bool, 'c' complex."""
        return self._np.kind

    @property
    def size(self):
        """Bytes per element."""
        return self._np.itemsize

    @property
    def base_dtype(self):
        """This dtype itself (numgrad has no reference dtypes)."""
        return self

    @property
    def is_floating(self):
        """True for float16, float32 and float64."""
        return self._np.kind == "f"

    @property
    def is_integer(self):
        """True for int32 and int64."""
        return self._np.kind in "iu"

    @property
    def is_bool(self):
        """True for bool."""
        return self._np.kind == "b"

    @property
    def is_complex(self):
        """True for complex64 and complex128."""
        return self._np.kind == "c"

    @property
    def is_numeric(self):
        """True for integer, floating and complex types (not bool)."""
        return self._np.kind in "iufc"

    @property
    def is_differentiable(self):
        """Floating (and complex) tensors carry gradients; ints and bools are constants."""
        return self._np.kind in "fc"

    @property
    def real_dtype(self):
        """The dtype of the real and imaginary parts of a complex dtype (float32 for
        complex64, float64 for complex128); any other dtype itself."""
        return _REAL_OF.get(self.name, self)

    @property
    def min(self):
        """The smallest value: -inf for floating types (TF gives the lowest finite value), False for
        bool; TypeError for complex types, which are not ordered."""
        self._check_ordered("minimum")
        return -np.inf if self.is_floating else (False if self.is_bool else np.iinfo(self._np).min)

    @property
    def max(self):
        """The largest value: inf for floating types (TF gives the largest finite value), True for
        bool; TypeError for complex types, which are not ordered."""
        self._check_ordered("maximum")
        return np.inf if self.is_floating else (True if self.is_bool else np.iinfo(self._np).max)

    def _check_ordered(self, what):
        if self.is_complex:
            raise TypeError(f"Cannot find {what} value of {self!r}: complex values are not "
                            "ordered")

    def __repr__(self):
        return "ng." + self.name

    def __eq__(self, other):
        if isinstance(other, DType):
            return self is other
        try:
            return self is as_dtype(other)
        except TypeError:
            return False

    def __hash__(self):
        return hash(self.name)


class _BFloat16(DType):
    """ng.bfloat16: a floating DType (8 exponent bits, 7 mantissa bits) whose NumPy dtype is
    ml_dtypes.bfloat16, loaded on first use of `np` or `as_numpy_dtype` (ImportError naming
    the install command when ml_dtypes is missing).  Everything else works without it."""
    __slots__ = ()

    def __init__(self):
        self.name = "bfloat16"

    def __getattr__(self, attr):
        if attr in ("_np", "as_numpy_dtype"):       # slots still unset: load ml_dtypes
            npd = _bf16.load()
            self._np = npd
            self.as_numpy_dtype = npd.type
            return getattr(self, attr)
        raise AttributeError(attr)

    kind = property(lambda self: "f", doc="'f': bfloat16 is a floating type.")
    size = property(lambda self: 2, doc="2 bytes per element.")
    is_floating = property(lambda self: True, doc="True.")
    is_integer = property(lambda self: False, doc="False.")
    is_bool = property(lambda self: False, doc="False.")
    is_complex = property(lambda self: False, doc="False.")
    is_numeric = property(lambda self: True, doc="True.")
    is_differentiable = property(lambda self: True, doc="True: bfloat16 tensors carry gradients.")


float16 = DType("float16", np.float16)
bfloat16 = _BFloat16()
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
bool_ = DType("bool", np.bool_)
complex64 = DType("complex64", np.complex64)
complex128 = DType("complex128", np.complex128)
_REAL_OF = {"complex64": float32, "complex128": float64}

_ALL = (float16, float32, float64, complex64, complex128, int32, int64, bool_)
_BY_NP = {d.np: d for d in _ALL}
_BY_NAME = {d.name: d for d in _ALL}
_BY_NAME.update({"half": float16, "float": float32, "double": float64, "bool_": bool_,
                 "bfloat16": bfloat16})
half = float16
double = float64


def as_dtype(value):
    """Return the DType for a DType, NumPy dtype/type, or name; TypeError if unsupported."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str) and value in _BY_NAME:
        return _BY_NAME[value]
    if value is bool:
        return bool_
    if value is float:
        return float32
    try:
        npd = np.dtype(value)
    except TypeError:
        npd = None
    if npd is not None and npd in _BY_NP:
        return _BY_NP[npd]
    if npd is not None and npd.name == "bfloat16" and npd == _bf16.load():
        return bfloat16
    raise TypeError(
        f"Cannot convert {value!r} to a numgrad dtype; supported: "
        + ", ".join(d.name for d in _ALL) + ", bfloat16")
