# STYLE.md §9: warnings are errors, hardening on.
add_compile_options(
  -Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wformat=2 -Wvla -Werror
  -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
  -fstack-protector-strong)
add_compile_definitions(_GNU_SOURCE)

# CONSORT_SANITIZE: OFF, ON (= address: ASan+UBSan, `make asan`) or thread
# (ThreadSanitizer, `make tsan`; it cannot be combined with ASan).
if(CONSORT_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
  add_compile_definitions(CONSORT_SANITIZE=2)
elseif(CONSORT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(CONSORT_SANITIZE=1)
elseif(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3)
endif()

if(CONSORT_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CONSORT_FUZZ needs clang: CC=clang cmake ...")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
  add_compile_definitions(CONSORT_FUZZING=1)
endif()
