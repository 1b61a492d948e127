# -*- coding: utf-8 -*-
"""The same records from any Python, 2.7 to 3.13, through the stock logging.handlers.SocketHandler.

    every_python.py HOST PORT TAG

Sends four records tagged TAG (extra "tag"), then closes the handler; exits non-zero if the handler reported an
error. Text is held the way each Python holds it: in Python 2 a str of UTF-8 bytes, in Python 3 a str; bytes
that are not UTF-8 as a Python 2 str or a Python 3 bytes. test/every-python.test.ts compares the lines.
"""
import logging
import logging.handlers
import sys

host, port, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PY2 = sys.version_info[0] == 2

if PY2:
    cafe = 'caf\xc3\xa9'  # a Python 2 str: the UTF-8 bytes of u"caf\xe9"
    not_utf8 = '\xff\xfeok'
else:
    cafe = u'caf\xe9'
    not_utf8 = b'\xff\xfeok'

failed = []


class Handler(logging.handlers.SocketHandler):
    def handleError(self, record):
        failed.append(sys.exc_info()[1])


handler = Handler(host, port)
log = logging.getLogger('every.python')
log.propagate = False
log.setLevel(logging.DEBUG)
log.addHandler(handler)

log.info('plain %s %d', 'text', 42, extra={'tag': tag, 'n': 1})
log.warning(cafe, extra={'tag': tag, 'n': 2})
values = {
    'tag': tag, 'n': 3,
    'list': [1, 2.5, None, True, False], 'dict': {'a': 1, 'b': [u'x']}, 'tuple': (1, 'x'),
    'big': 2 ** 70, 'neg': -(2 ** 40), 'float': 1.0, 'tiny': 1e-7,
    'utf8': cafe, 'unicode': u'\u00fc\u4e2d\U0001F600', 'not_utf8': not_utf8,
}
# One call, one line: Pythons before 3.8 give a call spread over lines the number of its last line.
log.info('values', extra=values)
try:
    1 / 0
except ZeroDivisionError:
    log.exception('failed', extra={'tag': tag, 'n': 4})
handler.close()
if failed:
    sys.stderr.write('SocketHandler failed: %r\n' % (failed,))
    sys.exit(1)
