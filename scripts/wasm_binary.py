"""Reading a WASM module's binary format, for the scripts that look into the client's modules
(`wasm-sizes.py`, `shorten-imports.py`)."""


def leb128(data, at):
    """The unsigned LEB128 number at `at`, and where it ends."""
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def encode_leb128(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read_name(data, at):
    """The name (length-prefixed bytes) at `at`, and where it ends."""
    length, at = leb128(data, at)
    return data[at : at + length], at + length


def encode_name(name):
    return encode_leb128(len(name)) + name
