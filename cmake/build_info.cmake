# Runs at every build (the build_info target): writes OUTPUT with the version, the git commit the
# tree is at and today's date. configure_file leaves OUTPUT alone when nothing changed, so an
# unchanged tree recompiles nothing. Outside git (a source tarball) the commit is SPROCKET_GIT_COMMIT
# when given, else "unknown".
if(NOT COMMIT)
  execute_process(COMMAND git -C "${SOURCE_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE not_git)
  if(not_git OR NOT COMMIT)
    set(COMMIT "unknown")
  else()
    execute_process(COMMAND git -C "${SOURCE_DIR}" diff --quiet HEAD -- RESULT_VARIABLE dirty ERROR_QUIET)
    if(dirty)
      set(COMMIT "${COMMIT}-dirty")
    endif()
  endif()
endif()
string(TIMESTAMP BUILD_DATE "%Y-%m-%d" UTC)
configure_file("${TEMPLATE}" "${OUTPUT}" @ONLY)
