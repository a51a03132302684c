# libFuzzer targets (make fuzz): configured with clang and -DKILN_FUZZ=ON into
# their own build folder (build-fuzz/), where the whole library is compiled
# with ASan + UBSan and coverage instrumentation, and each tests/fuzz/fuzz_*.c
# links it with libFuzzer's main. tests/fuzz/run.sh runs them on their seed
# corpora (tests/fuzz/corpus/<target>/).
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "KILN_FUZZ needs clang (cmake -DCMAKE_C_COMPILER=clang -DKILN_FUZZ=ON)")
endif()
file(GLOB KILN_FUZZ_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
set(KILN_FUZZ_TARGETS)
foreach(src ${KILN_FUZZ_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_include_directories(${name} PRIVATE ${KILN_INCLUDE_DIRS})
  target_compile_definitions(${name} PRIVATE KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  target_link_libraries(${name} PRIVATE kiln_static)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  list(APPEND KILN_FUZZ_TARGETS ${name})
endforeach()
# kiln serve's request parser and response writer live in demo/ (jansson
# comes with kiln_static)
if(TARGET fuzz_serve_request)
  target_sources(fuzz_serve_request PRIVATE ${CMAKE_SOURCE_DIR}/demo/serve_json.c)
endif()
add_custom_target(fuzz_all DEPENDS ${KILN_FUZZ_TARGETS})
# The generated cpu kernels are not what the targets fuzz (no reader calls
# them) and are most of the library's code: compiled plainly, the build
# takes minutes less.
set_property(SOURCE ${KILN_CPU_BUNDLE} APPEND PROPERTY COMPILE_OPTIONS -fno-sanitize=all -O1)
