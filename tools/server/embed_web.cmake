# Writes OUT, a C++ header holding every file of DIR as a byte array (the web page of
# `mmada serve`, embedded so the binary needs no files and no CDN at run time).
# Usage: cmake -DDIR=... -DOUT=... -P embed_web.cmake
file(GLOB files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)
set(out "// Generated from tools/server/web by tools/server/embed_web.cmake: do not edit.\n#pragma once\n#include <cstddef>\n\nnamespace mmada::web {\n\nstruct EmbeddedFile {\n  const char* name;\n  const unsigned char* data;\n  size_t size;\n};\n\n")
set(entries "")
foreach(name ${files})
  string(MAKE_C_IDENTIFIER ${name} id)
  file(READ ${DIR}/${name} hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR size "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(APPEND out "inline const unsigned char k_${id}[] = {${bytes}0};\n")
  string(APPEND entries "    {\"${name}\", k_${id}, ${size}},\n")
endforeach()
string(APPEND out "\ninline const EmbeddedFile kFiles[] = {\n${entries}};\n\n}  // namespace mmada::web\n")
file(WRITE ${OUT}.tmp "${out}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
