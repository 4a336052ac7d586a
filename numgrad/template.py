"""tf.compat.v1.make_template: a function whose variables are made on its first call and
shared by every later call.

The template owns a variable scope (``name_``, made unique like any variable scope, when the
template is first called, or at once with ``create_scope_now_=True``).  The first call runs
the function in it; later calls re-enter it with ``reuse=True``, so each ``get_variable``
returns the variable of the first call, and one that was not made then is an error.
"""
import functools

from .variables import GraphKeys, get_collection, variable_scope

__all__ = ["make_template", "Template"]


class Template:
    """A function wrapped to share its variables between calls (see make_template)."""

    def __init__(self, name, func, create_scope_now=False, unique_name=None,
                 custom_getter=None):
        if custom_getter is not None:
            raise NotImplementedError("make_template(custom_getter_=...) is not supported")
        self._name, self._func, self._unique_name = name, func, unique_name
        self._scope = None
        self._called = False
        if create_scope_now:
            self._open_scope()

    def _open_scope(self):
        with variable_scope(self._unique_name, default_name=self._name) as vs:
            self._scope = vs

    def __call__(self, *args, **kwargs):
        """Run the function in the template's scope (sharing the first call's variables)."""
        if self._scope is None:
            with variable_scope(self._unique_name, default_name=self._name) as vs:
                self._scope = vs
                result = self._func(*args, **kwargs)
        else:
            with variable_scope(self._scope, reuse=True if self._called else None):
                result = self._func(*args, **kwargs)
        self._called = True
        return result

    name = property(lambda self: self._name, doc="The name the template was given.")
    variable_scope = property(lambda self: self._scope,
                              doc="The template's VariableScope (None before it is made).")

    @property
    def variable_scope_name(self):
        """The full name of the template's variable scope."""
        return None if self._scope is None else self._scope.name

    def _collection(self, key):
        if self._scope is None:
            return []
        return get_collection(key, self._scope.name + "/")

    @property
    def variables(self):
        """The global and local variables made in the template's scope."""
        return self.global_variables + self.local_variables

    @property
    def global_variables(self):
        """The global variables made in the template's scope."""
        return self._collection(GraphKeys.GLOBAL_VARIABLES)

    @property
    def local_variables(self):
        """The local variables made in the template's scope."""
        return self._collection(GraphKeys.LOCAL_VARIABLES)

    @property
    def trainable_variables(self):
        """The trainable variables made in the template's scope."""
        return self._collection(GraphKeys.TRAINABLE_VARIABLES)

    @property
    def non_trainable_variables(self):
        """The global variables of the scope that are not trainable."""
        trainable = {id(v) for v in self.trainable_variables}
        return [v for v in self.global_variables if id(v) not in trainable]


def make_template(name_, func_, create_scope_now_=False, unique_name_=None,
                  custom_getter_=None, **kwargs):
    """tf.compat.v1.make_template: `func_` (with `kwargs` bound) as a Template whose
    ``get_variable`` calls make variables on the first call and share them afterwards."""
    if kwargs:
        func_ = functools.partial(func_, **kwargs)
    return Template(name_, func_, create_scope_now=create_scope_now_,
                    unique_name=unique_name_, custom_getter=custom_getter_)
