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
