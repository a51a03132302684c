# One Criterion binary for the whole suite: tests/test_*.c plus tests/support/*.c.
find_library(CRITERION_LIB criterion REQUIRED)
file(GLOB KILN_TEST_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/tests/test_*.c
  ${CMAKE_SOURCE_DIR}/tests/support/*.c)
add_executable(kiln_tests ${KILN_TEST_SOURCES})
target_include_directories(kiln_tests PRIVATE ${KILN_INCLUDE_DIRS} ${CMAKE_SOURCE_DIR}/tests)
target_link_libraries(kiln_tests PRIVATE kiln_static ${CRITERION_LIB})
target_compile_definitions(kiln_tests PRIVATE
  KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  KILN_BINARY_DIR="${CMAKE_BINARY_DIR}")

# The libFuzzer targets have their own build (make fuzz): tests/fuzz/fuzz.cmake.
if(KILN_SANITIZE)
  # the install test builds a consumer without sanitizers: meaningless here
  target_compile_definitions(kiln_tests PRIVATE KILN_SANITIZED=1)
endif()

# libFuzzer target for chat template detection and rendering (clang).
# The renderer's model-facing helpers reach the GGUF reader and the tokenizer.
file(GLOB KILN_CHAT_FUZZ_RUNTIME CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/runtime/tokenizer*.c ${CMAKE_SOURCE_DIR}/runtime/unicode*.c)
set(KILN_CHAT_FUZZ_SOURCES
  ${CMAKE_SOURCE_DIR}/runtime/chat_template.c
  ${CMAKE_SOURCE_DIR}/runtime/strmap.c
  ${CMAKE_SOURCE_DIR}/runtime/merge_queue.c
  ${KILN_CHAT_FUZZ_RUNTIME}
  ${KILN_GGUF_FUZZ_SOURCES})
if(KILN_CLANG AND EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_chat_template.c)
  add_custom_target(fuzz_chat_template
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/bin
    COMMAND ${KILN_CLANG} -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
            -I${CMAKE_SOURCE_DIR}/include -I${CMAKE_SOURCE_DIR}
            ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_chat_template.c ${KILN_CHAT_FUZZ_SOURCES}
            -lm -o ${CMAKE_BINARY_DIR}/bin/fuzz_chat_template
    COMMENT "Building the libFuzzer chat template target (clang)"
    VERBATIM)
endif()

# libFuzzer target for kiln serve's request parser and response writer (clang, jansson).
if(KILN_CLANG AND EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_serve_request.c)
  add_custom_target(fuzz_serve_request
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/bin
    COMMAND ${KILN_CLANG} -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
            -I${CMAKE_SOURCE_DIR}/include -I${CMAKE_SOURCE_DIR}
            ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_serve_request.c ${CMAKE_SOURCE_DIR}/demo/serve_json.c
            ${KILN_CHAT_FUZZ_SOURCES} ${CMAKE_SOURCE_DIR}/runtime/sampler.c
            -ljansson -lm -o ${CMAKE_BINARY_DIR}/bin/fuzz_serve_request
    COMMENT "Building the libFuzzer serve request target (clang)"
    VERBATIM)
endif()
