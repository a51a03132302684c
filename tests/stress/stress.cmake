# kiln_stress: ops from several application threads at once (tests/stress/).
# Run by the suite (tests/test_stress.c) and, in a -DKILN_TSAN=ON build
# (make tsan), under ThreadSanitizer.
add_executable(kiln_stress ${CMAKE_SOURCE_DIR}/tests/stress/stress_threads.c)
target_include_directories(kiln_stress PRIVATE ${KILN_INCLUDE_DIRS})
target_link_libraries(kiln_stress PRIVATE kiln_static)
