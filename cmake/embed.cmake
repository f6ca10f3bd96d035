# SPDX-License-Identifier: MIT
#
# cmake -DIN=<file> -DOUT=<file.c> -DNAME=<symbol> -P embed.cmake
#
# Write OUT, a C file defining `const char NAME[]`: the bytes of IN followed by a NUL. veranic
# embeds runtime/src/wire/envelope.proto this way, to write it beside every <pkg>.proto.
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n"
       bytes "${bytes}")
file(WRITE "${OUT}.tmp" "/* Generated from ${IN} by cmake/embed.cmake. */\n"
     "const char ${NAME}[] = {\n${bytes}0x00};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
