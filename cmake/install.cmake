# `make install` (cmake --install): what goes where (docs/operating.md
# "Installing"). Paths are GNUInstallDirs' relative to the prefix, so
# `cmake --install BUILD --prefix P` (what `make install PREFIX=P` runs)
# and DESTDIR both work without reconfiguring.
include(GNUInstallDirs)

# consort_install_generated(TEMPLATE NAME DESTINATION [VARS var...]):
# installs TEMPLATE as DESTINATION/NAME, its @VAR@s replaced at install
# time, when the prefix is known: @CONSORT_PREFIX@, @CONSORT_BINDIR@,
# @CONSORT_LIBDIR@, @CONSORT_INCLUDEDIR@, @CONSORT_DOCDIR@ (absolute),
# @CONSORT_PC_LIBDIR@ and @CONSORT_PC_INCLUDEDIR@ (relative to ${prefix}
# where they can be, for pkg-config), and the configure-time VARS.
function(consort_install_generated template name destination)
  cmake_parse_arguments(G "" "" "VARS" ${ARGN})
  set(out ${CMAKE_BINARY_DIR}/install-generated/${name})
  set(code "set(P \"\${CMAKE_INSTALL_PREFIX}\")\n")
  foreach(v ${G_VARS})
    string(APPEND code "set(${v} [==[${${v}}]==])\n")
  endforeach()
  foreach(d BINDIR LIBDIR INCLUDEDIR DOCDIR)
    set(rel ${CMAKE_INSTALL_${d}})
    if(IS_ABSOLUTE "${rel}")
      string(APPEND code "set(CONSORT_${d} [==[${rel}]==])\n")
    else()
      string(APPEND code "set(CONSORT_${d} \"\${P}/${rel}\")\n")
    endif()
  endforeach()
  foreach(d LIBDIR INCLUDEDIR)
    set(rel ${CMAKE_INSTALL_${d}})
    if(IS_ABSOLUTE "${rel}")
      string(APPEND code "set(CONSORT_PC_${d} [==[${rel}]==])\n")
    else()
      string(APPEND code "set(CONSORT_PC_${d} [==[\${prefix}/${rel}]==])\n")
    endif()
  endforeach()
  string(APPEND code "set(CONSORT_PREFIX \"\${P}\")\n"
    "configure_file([==[${template}]==] [==[${out}]==] @ONLY)\n")
  install(CODE "${code}")
  install(FILES ${out} DESTINATION ${destination})
endfunction()
