# Where the files that make l2wgd a system service go: the systemd unit, the sysusers.d entry,
# the D-Bus policy and the D-Bus activation file; and NetworkManager's conf snippet and dispatcher
# script (examples/networkmanager/). Each is read from one place only: the bus reads
# policies from /usr/share/dbus-1/system.d (never /usr/local/share/dbus-1/system.d), so these do
# not follow CMAKE_INSTALL_PREFIX the way bin/ and sbin/ do.
#
# Each directory is a cache variable, empty by default (automatic):
#   L2WG_SYSTEMD_UNIT_DIR          systemd.pc's systemdsystemunitdir    (/lib/systemd/system)
#   L2WG_SYSUSERS_DIR              systemd.pc's sysusersdir             (/usr/lib/sysusers.d)
#   L2WG_DBUS_POLICY_DIR           dbus-1.pc's datadir + /dbus-1/system.d
#   L2WG_DBUS_SYSTEM_SERVICES_DIR  dbus-1.pc's system_bus_services_dir  (/usr/share/dbus-1/system-services)
#   L2WG_NM_DIR                    NetworkManager's own directory       (/usr/lib/NetworkManager:
#                                  conf.d, dispatcher.d; NetworkManager never reads /usr/local)
# Automatic means: those system directories when installing into /usr or /usr/local (the
# default), and PREFIX/lib/systemd/system, PREFIX/lib/sysusers.d, PREFIX/share/dbus-1/system.d
# PREFIX/share/dbus-1/system-services and PREFIX/lib/NetworkManager for any other prefix, decided when installing, so
# `cmake --install build --prefix /tmp/stage` stays under /tmp/stage. A value given (absolute,
# or relative to the prefix) is used as it is. DESTDIR applies to all of them.

set(L2WG_SYSTEMD_UNIT_DIR "" CACHE STRING
    "systemd system unit directory (empty: systemd.pc's systemdsystemunitdir)")
set(L2WG_SYSUSERS_DIR "" CACHE STRING "sysusers.d directory (empty: systemd.pc's sysusersdir)")
set(L2WG_DBUS_POLICY_DIR "" CACHE STRING
    "D-Bus system bus policy directory (empty: dbus-1.pc's datadir/dbus-1/system.d)")
set(L2WG_DBUS_SYSTEM_SERVICES_DIR "" CACHE STRING
    "D-Bus system bus activation directory (empty: dbus-1.pc's system_bus_services_dir)")
set(L2WG_NM_DIR "" CACHE STRING
    "NetworkManager's directory for conf.d and dispatcher.d (empty: /usr/lib/NetworkManager)")

pkg_check_modules(L2WG_SYSTEMD_PC QUIET systemd)
pkg_check_modules(L2WG_DBUS_PC QUIET dbus-1)
if(L2WG_SYSTEMD_PC_FOUND)
  pkg_get_variable(L2WG_SYSTEM_SYSTEMD_UNIT_DIR systemd systemdsystemunitdir)
  pkg_get_variable(L2WG_SYSTEM_SYSUSERS_DIR systemd sysusersdir)
endif()
if(L2WG_DBUS_PC_FOUND)
  pkg_get_variable(l2wg_dbus_datadir dbus-1 datadir)
  if(l2wg_dbus_datadir)
    set(L2WG_SYSTEM_DBUS_POLICY_DIR "${l2wg_dbus_datadir}/dbus-1/system.d")
  endif()
  pkg_get_variable(L2WG_SYSTEM_DBUS_SYSTEM_SERVICES_DIR dbus-1 system_bus_services_dir)
endif()
# Without the .pc files (no systemd or libdbus-1-dev installed): the places they name on Debian
# and most distributions.
foreach(kind_default
    "SYSTEMD_UNIT_DIR|/usr/lib/systemd/system|lib/systemd/system"
    "SYSUSERS_DIR|/usr/lib/sysusers.d|lib/sysusers.d"
    "DBUS_POLICY_DIR|/usr/share/dbus-1/system.d|share/dbus-1/system.d"
    "DBUS_SYSTEM_SERVICES_DIR|/usr/share/dbus-1/system-services|share/dbus-1/system-services"
    "NM_DIR|/usr/lib/NetworkManager|lib/NetworkManager")
  string(REPLACE "|" ";" kind_default "${kind_default}")
  list(GET kind_default 0 kind)
  list(GET kind_default 1 fallback)
  list(GET kind_default 2 under_prefix)
  if(NOT L2WG_SYSTEM_${kind})
    set(L2WG_SYSTEM_${kind} "${fallback}")
  endif()
  set(L2WG_PREFIXED_${kind} "${under_prefix}")
endforeach()

# The directory a configure-time prefix gives, for the messages and for paths written into files.
function(l2wg_system_dir kind out)
  if(L2WG_${kind})
    set(dir "${L2WG_${kind}}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/usr(/local)?/*$")
    set(dir "${L2WG_SYSTEM_${kind}}")
  else()
    set(dir "${L2WG_PREFIXED_${kind}}")
  endif()
  if(NOT IS_ABSOLUTE "${dir}")
    set(dir "${CMAKE_INSTALL_PREFIX}/${dir}")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

foreach(kind SYSTEMD_UNIT_DIR SYSUSERS_DIR DBUS_POLICY_DIR DBUS_SYSTEM_SERVICES_DIR NM_DIR)
  l2wg_system_dir(${kind} dir)
  message(STATUS "l2wg: L2WG_${kind} = ${dir}")
endforeach()

# l2wg_install_system_file(KIND FILE [PROGRAM] [SUBDIR DIR] [RENAME NAME] [LINK LINK...]):
# installs FILE into the directory of KIND (SYSTEMD_UNIT_DIR, SYSUSERS_DIR, DBUS_POLICY_DIR,
# DBUS_SYSTEM_SERVICES_DIR, NM_DIR), or its subdirectory DIR, choosing it with the prefix given at
# install time; PROGRAM makes it executable; each LINK (a path relative to that directory) becomes
# a relative symbolic link to it.
function(l2wg_install_system_file kind file)
  cmake_parse_arguments(PARSE_ARGV 2 arg "PROGRAM" "RENAME;SUBDIR" "LINK")
  get_filename_component(file "${file}" ABSOLUTE)
  if(arg_RENAME)
    set(rename "RENAME \"${arg_RENAME}\"")
    set(installed_name "${arg_RENAME}")
  else()
    get_filename_component(installed_name "${file}" NAME)
  endif()
  set(type FILE)
  if(arg_PROGRAM)
    set(type PROGRAM)
  endif()
  set(subdir "")
  if(arg_SUBDIR)
    set(subdir "/${arg_SUBDIR}")
  endif()
  set(links "")
  foreach(link IN LISTS arg_LINK)
    get_filename_component(link_dir "${link}" DIRECTORY)
    file(RELATIVE_PATH target "/base/${link_dir}" "/base/${installed_name}")
    string(APPEND links "
    get_filename_component(l2wg_link_dir \"\$ENV{DESTDIR}\${l2wg_dir}/${link}\" DIRECTORY)
    file(MAKE_DIRECTORY \"\${l2wg_link_dir}\")
    message(STATUS \"Installing: \$ENV{DESTDIR}\${l2wg_dir}/${link} -> ${target}\")
    file(CREATE_LINK \"${target}\" \"\$ENV{DESTDIR}\${l2wg_dir}/${link}\" SYMBOLIC)")
  endforeach()
  if(L2WG_${kind})
    set(given "${L2WG_${kind}}")
  endif()
  install(CODE "
    set(l2wg_dir \"${given}\")
    if(NOT l2wg_dir)
      if(CMAKE_INSTALL_PREFIX MATCHES \"^/usr(/local)?/*$\")
        set(l2wg_dir \"${L2WG_SYSTEM_${kind}}\")
      else()
        set(l2wg_dir \"${L2WG_PREFIXED_${kind}}\")
      endif()
    endif()
    if(NOT IS_ABSOLUTE \"\${l2wg_dir}\")
      set(l2wg_dir \"\${CMAKE_INSTALL_PREFIX}/\${l2wg_dir}\")
    endif()
    set(l2wg_dir \"\${l2wg_dir}${subdir}\")
    file(INSTALL DESTINATION \"\${l2wg_dir}\" TYPE ${type} ${rename} FILES \"${file}\")${links}
  ")
endfunction()
