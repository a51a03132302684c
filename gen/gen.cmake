# The generator core (library part of gen/) and the kiln-gen host tool.
# Owns: embedding the templates (kernels/*/templates/*, gen/math/*) into the
# generator, so the emitted source is produced from real template files.
file(GLOB KILN_GEN_SOURCES CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/gen/*.c
  ${CMAKE_SOURCE_DIR}/formats/*.c)

file(GLOB_RECURSE KILN_TEMPLATE_FILES CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR}
  ${CMAKE_SOURCE_DIR}/gen/math/*
  ${CMAKE_SOURCE_DIR}/kernels/cpu/templates/*
  ${CMAKE_SOURCE_DIR}/kernels/cuda/templates/*
  ${CMAKE_SOURCE_DIR}/kernels/cuda/emu/*.h
  ${CMAKE_SOURCE_DIR}/kernels/vulkan/templates/*)
list(SORT KILN_TEMPLATE_FILES)
set(KILN_EMBED_C ${CMAKE_BINARY_DIR}/gen/kiln_embedded.c)
string(REPLACE ";" "|" KILN_TEMPLATE_LIST "${KILN_TEMPLATE_FILES}") # a ; would split the argument
set(KILN_TEMPLATE_ABS "")
foreach(f IN LISTS KILN_TEMPLATE_FILES)
  list(APPEND KILN_TEMPLATE_ABS ${CMAKE_SOURCE_DIR}/${f})
endforeach()
add_custom_command(OUTPUT ${KILN_EMBED_C}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/gen
  COMMAND ${CMAKE_COMMAND} -DROOT=${CMAKE_SOURCE_DIR} -DOUT=${KILN_EMBED_C}
          "-DFILES=${KILN_TEMPLATE_LIST}" -P ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  DEPENDS ${KILN_TEMPLATE_ABS} ${CMAKE_SOURCE_DIR}/cmake/embed.cmake
  COMMENT "Embedding kernel templates into the generator"
  VERBATIM)

add_library(kiln_gen_core OBJECT ${KILN_GEN_SOURCES} ${KILN_EMBED_C})
target_include_directories(kiln_gen_core PUBLIC ${KILN_INCLUDE_DIRS})

# kiln-gen: the generator's command line (also used at build time).
add_executable(kiln-gen ${CMAKE_SOURCE_DIR}/tools/kiln_gen_main.c ${CMAKE_SOURCE_DIR}/tools/kiln_gen_sass.c
  $<TARGET_OBJECTS:kiln_gen_core>)
target_include_directories(kiln-gen PRIVATE ${KILN_INCLUDE_DIRS})
target_link_libraries(kiln-gen PRIVATE m Threads::Threads) # pthread_once in gen/manifest.c
