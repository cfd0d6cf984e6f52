# Embeds the web console (console/: HTML, CSS and JavaScript, docs/operating.md
# "Web console") into consort_node as a fixed table of files
# (cs_console_assets, node/console.h): consortd serves exactly these files
# under /console, from memory, with no build step and no file access at
# run time.
#
# Included from src/CMakeLists.txt after consort_node exists; it also runs
# as a script (cmake -DDIR=... -DFILES=a,b -DOUT=... -P this file) to write
# the C file at build time, whenever a console file changes.
#
# Each file gets its Content-Type from its extension (one not listed below
# fails the build) and an entity tag: the first 128 bits of its SHA-256.
if(CMAKE_SCRIPT_MODE_FILE)
  string(REPLACE "," ";" FILES "${FILES}")
  set(entries "")
  set(arrays "")
  set(i 0)
  foreach(name ${FILES})
    if(NOT name MATCHES "^[a-z0-9_-]+\\.[a-z]+$")
      message(FATAL_ERROR "console file name '${name}': lower-case letters, digits, _ and - only")
    endif()
    get_filename_component(ext "${name}" LAST_EXT)
    if(ext STREQUAL ".html")
      set(type "text/html; charset=utf-8")
    elseif(ext STREQUAL ".css")
      set(type "text/css; charset=utf-8")
    elseif(ext STREQUAL ".js")
      set(type "text/javascript; charset=utf-8")
    elseif(ext STREQUAL ".svg")
      set(type "image/svg+xml")
    else()
      message(FATAL_ERROR "console file '${name}': no Content-Type for '${ext}'")
    endif()
    file(READ "${DIR}/${name}" hex HEX)
    file(SHA256 "${DIR}/${name}" digest)
    string(SUBSTRING "${digest}" 0 32 etag)
    string(LENGTH "${hex}" hex_len)
    math(EXPR len "${hex_len} / 2")
    string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
    string(REPEAT "0x[0-9a-f][0-9a-f]," 16 sixteen)
    string(REGEX REPLACE "(${sixteen})" "\\1\n    " bytes "${bytes}")
    string(APPEND arrays "static const unsigned char file${i}[] = {\n    ${bytes}0x00};\n\n")
    string(APPEND entries
      "    {\"/console/${name}\", \"${type}\", file${i}, ${len}, \"\\\"${etag}\\\"\"},\n")
    math(EXPR i "${i} + 1")
  endforeach()
  file(WRITE "${OUT}.tmp"
    "/* Generated from console/ by src/node/console_assets.cmake: do not edit. */\n"
    "#include \"node/console.h\"\n\n"
    "${arrays}"
    "const cs_console_asset cs_console_assets[] = {\n${entries}};\n"
    "const size_t cs_console_asset_count = ${i};\n")
  file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
  file(REMOVE "${OUT}.tmp")
  return()
endif()

# The files served, in console/ (an explicit list: nothing else is embedded).
set(_cs_console_files index.html console.css console.js favicon.svg)
set(_cs_console_dir ${CMAKE_SOURCE_DIR}/console)
set(_cs_console_inputs "")
foreach(f ${_cs_console_files})
  list(APPEND _cs_console_inputs ${_cs_console_dir}/${f})
endforeach()
set(_cs_console_out ${CMAKE_CURRENT_BINARY_DIR}/node/console_assets.c)
string(REPLACE ";" "," _cs_console_list "${_cs_console_files}")
add_custom_command(
  OUTPUT ${_cs_console_out}
  COMMAND ${CMAKE_COMMAND} -DDIR=${_cs_console_dir} "-DFILES=${_cs_console_list}"
          -DOUT=${_cs_console_out} -P ${CMAKE_CURRENT_LIST_FILE}
  DEPENDS ${_cs_console_inputs} ${CMAKE_CURRENT_LIST_FILE}
  COMMENT "Embedding the web console"
  VERBATIM)
target_sources(consort_node PRIVATE ${_cs_console_out})
