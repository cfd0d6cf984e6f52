# Embeds src/gov/default_constitution.lua, the one source of the default
# constitution, into consort_gov as a byte array (cs_default_constitution_lua,
# cs_default_constitution_lua_len; see src/gov/constitution.c).
#
# Included from src/CMakeLists.txt after consort_gov exists; it also runs as
# a script (cmake -DIN=... -DOUT=... -P this file) to write the C file, at
# build time, whenever the .lua file changes.
if(CMAKE_SCRIPT_MODE_FILE)
  file(READ "${IN}" hex HEX)
  string(LENGTH "${hex}" hex_len)
  math(EXPR len "${hex_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REPEAT "0x[0-9a-f][0-9a-f]," 16 sixteen)
  string(REGEX REPLACE "(${sixteen})" "\\1\n    " bytes "${bytes}")
  file(WRITE "${OUT}.tmp"
    "/* Generated from src/gov/default_constitution.lua: do not edit. */\n"
    "#include <stddef.h>\n\n"
    "extern const unsigned char cs_default_constitution_lua[];\n"
    "extern const size_t cs_default_constitution_lua_len;\n\n"
    "/* The script and a terminating NUL (not counted in the length). */\n"
    "const unsigned char cs_default_constitution_lua[] = {\n    ${bytes}0x00};\n"
    "const size_t cs_default_constitution_lua_len = ${len};\n")
  file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
  file(REMOVE "${OUT}.tmp")
  return()
endif()

set(_cs_constitution_in ${CMAKE_CURRENT_LIST_DIR}/default_constitution.lua)
set(_cs_constitution_out ${CMAKE_CURRENT_BINARY_DIR}/gov/default_constitution_lua.c)
add_custom_command(
  OUTPUT ${_cs_constitution_out}
  COMMAND ${CMAKE_COMMAND} -DIN=${_cs_constitution_in} -DOUT=${_cs_constitution_out}
          -P ${CMAKE_CURRENT_LIST_FILE}
  DEPENDS ${_cs_constitution_in} ${CMAKE_CURRENT_LIST_FILE}
  COMMENT "Embedding the default constitution"
  VERBATIM)
target_sources(consort_gov PRIVATE ${_cs_constitution_out})
