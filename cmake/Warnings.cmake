# Probes the compiler for the warnings we want and applies them to our own
# targets only, through pd_warnings(target).
include(CheckCCompilerFlag)
set(PD_WARNING_FLAGS "")
foreach(flag -Wall -Wextra -Wshadow -Wconversion -Wno-sign-conversion
             -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
             -Wno-format-nonliteral)
  string(MAKE_C_IDENTIFIER "PD_HAS${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    list(APPEND PD_WARNING_FLAGS ${flag})
  endif()
endforeach()
if(PD_WERROR)
  list(APPEND PD_WARNING_FLAGS -Werror)
endif()

function(pd_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C>:${PD_WARNING_FLAGS}>)
endfunction()
