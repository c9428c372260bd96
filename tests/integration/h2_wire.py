"""HTTP/2 on the wire for tests that speak it byte by byte: HPACK
integers (RFC 7541 5.1) and the :status of a response header block that
uses no dynamic table (static index, or a literal, Huffman-coded or not)."""

STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}
# RFC 7541 Appendix B: the Huffman codes of the digits.
HUFF_DIGITS = {(0x0, 5): "0", (0x1, 5): "1", (0x2, 5): "2", (0x19, 6): "3",
               (0x1a, 6): "4", (0x1b, 6): "5", (0x1c, 6): "6", (0x1d, 6): "7",
               (0x1e, 6): "8", (0x1f, 6): "9"}


def hpack_int(n, bits, first=0):
    top = (1 << bits) - 1
    if n < top:
        return bytes([first | n])
    out = [first | top]
    n -= top
    while n >= 128:
        out.append((n & 127) | 128)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_int(block, i, bits):
    top = (1 << bits) - 1
    n = block[i] & top
    i += 1
    if n < top:
        return n, i
    m = 0
    while True:
        b = block[i]
        i += 1
        n += (b & 127) << m
        m += 7
        if not b & 128:
            return n, i


def huff_digits(data, count):
    bits = "".join("{:08b}".format(b) for b in data)
    out, pos = "", 0
    while len(out) < count:
        for width in (5, 6):
            code = (int(bits[pos:pos + width], 2), width)
            if code in HUFF_DIGITS:
                out += HUFF_DIGITS[code]
                pos += width
                break
        else:
            raise AssertionError("not a Huffman-coded status: %r" % data)
    return out


def status_of(block):
    """:status from a response header block (no dynamic table in use)."""
    i = 0
    while block[i] & 0xe0 == 0x20:          # dynamic table size update
        _, i = read_int(block, i, 5)
    b = block[i]
    if b & 0x80:
        idx, i = read_int(block, i, 7)
        return STATIC_STATUS[idx]
    idx, i = read_int(block, i, 6 if b & 0x40 else 4)
    if idx not in STATIC_STATUS:
        raise AssertionError("first field is not :status: %r" % block[:16])
    huff = block[i] & 0x80
    n, i = read_int(block, i, 7)
    value = block[i:i + n]
    return int(huff_digits(value, 3) if huff else value.decode())
