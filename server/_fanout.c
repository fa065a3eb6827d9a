/* The native half of the fan-out hub (server/hub.py): the same bytes written
 * to many sockets in one call, with the interpreter released once for all
 * of them rather than once per socket.
 *
 * send_all(socks, data) -> [(index, result), ...] for every socket that did
 * not take all of `data`: result is the bytes it took, or -errno. `socks`
 * are socket objects. Their descriptors are read first, while the caller
 * still holds the interpreter, so a socket closed before the call (fileno
 * -1) answers -EBADF, and a number the kernel has since given to a newer
 * connection is never written to; then every socket is written in one pass
 * with MSG_DONTWAIT, so a full one answers -EAGAIN at once and the caller
 * queues the rest behind it instead.
 *
 * Built by scripts/build-native; without it the hub writes from Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <sys/socket.h>

static PyObject *fileno_name;

static PyObject *send_all(PyObject *self, PyObject *args)
{
    PyObject *socks, *seq, *failed = NULL;
    Py_buffer data;
    int *fds = NULL;
    Py_ssize_t *results = NULL;

    if (!PyArg_ParseTuple(args, "Oy*", &socks, &data))
        return NULL;
    seq = PySequence_Fast(socks, "socks must be a sequence of sockets");
    if (seq == NULL)
        goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    fds = PyMem_New(int, n > 0 ? n : 1);
    results = PyMem_New(Py_ssize_t, n > 0 ? n : 1);
    if (fds == NULL || results == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *number = PyObject_CallMethodNoArgs(PySequence_Fast_GET_ITEM(seq, i), fileno_name);
        if (number == NULL)
            goto done;
        long fd = PyLong_AsLong(number);
        Py_DECREF(number);
        if (fd == -1 && PyErr_Occurred())
            goto done;
        fds[i] = fd < 0 || fd > INT_MAX ? -1 : (int)fd;  /* closed: send() answers EBADF */
    }

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        ssize_t sent = send(fds[i], data.buf, (size_t)data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        results[i] = sent < 0 ? -(Py_ssize_t)errno : (Py_ssize_t)sent;
    }
    Py_END_ALLOW_THREADS

    failed = PyList_New(0);
    if (failed == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (results[i] == data.len)
            continue;
        PyObject *item = Py_BuildValue("(nn)", i, results[i]);
        if (item == NULL || PyList_Append(failed, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(failed);
            goto done;
        }
        Py_DECREF(item);
    }

done:
    PyMem_Free(fds);
    PyMem_Free(results);
    Py_XDECREF(seq);
    PyBuffer_Release(&data);
    return failed;
}

static PyMethodDef methods[] = {
    {"send_all", send_all, METH_VARARGS,
     "send_all(socks, data) -> [(index, bytes taken or -errno)] for the sockets that did not take all of data"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fanout", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fanout(void)
{
    fileno_name = PyUnicode_InternFromString("fileno");
    if (fileno_name == NULL)
        return NULL;
    return PyModule_Create(&module);
}
