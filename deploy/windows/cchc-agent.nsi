; The commune's installer of cchc-agent (NSIS 3, built on Linux by deploy/build-installer).
;
; Installs cchc-agent.exe into Program Files, initialises the station's data directory
; (%ProgramData%\cchc-agent) for its commune, enrolls it with the provincial hub, registers
; and starts the Windows service, and puts a shortcut to the officers' page on the desktop.
;
; Silent mass install (one command per PC, as administrator):
;   cchc-agent-setup.exe /S /UNIT=26734 /HUB=https://hub.tinh:8443 /CA=C:\cchc\ca.pem /CODE=ABCD-EFGH-JKLM
; Without /UNIT the agent is installed but not initialised (run `cchc-agent init` later);
; /NOSERVICE skips the service. The exit code is 0 on success, else the failing step's
; (cchc-agent's own exit codes: 3 bad input, 7 hub out of reach, 8 hub refused...).
; Uninstall: "Programs and Features", or `uninstall.exe /S`; the data stays unless /PURGE.
;
; Defines from the build: VERSION, EXE (the agent to ship), OUT (installer file),
; ARCH (x64 or x86).

Unicode true
!if ${ARCH} == "x64"
  Target amd64-unicode
!else
  Target x86-unicode
!endif
SetCompressor /SOLID lzma
RequestExecutionLevel admin

!include "MUI2.nsh"
!include "FileFunc.nsh"
!include "LogicLib.nsh"
!include "WordFunc.nsh"

Name "cchc-agent ${VERSION}"
OutFile "${OUT}"
!if ${ARCH} == "x64"
  InstallDir "$PROGRAMFILES64\cchc-agent"
!else
  InstallDir "$PROGRAMFILES\cchc-agent"
!endif
BrandingText "cchc ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=0 "ProductName" "cchc-agent"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileDescription" "cchc-agent setup"
VIAddVersionKey /LANG=0 "LegalCopyright" "MIT OR Apache-2.0"

!define UNINST_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\cchc-agent"
!define SHORTCUT "Số liệu CCHC"

Var Unit
Var Hub
Var Ca
Var Code
Var NoService
Var DataDir

!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "Vietnamese"
!insertmacro MUI_LANGUAGE "English"

; The station's data: where `cchc-agent` looks first (machine-wide) and the service runs.
!macro DATA_DIR
  ReadEnvStr $DataDir "ProgramData"
  ${If} $DataDir == ""
    StrCpy $DataDir "C:\ProgramData"
  ${EndIf}
  StrCpy $DataDir "$DataDir\cchc-agent"
!macroend

; Runs a cchc-agent command; its output goes to the details and to install.log beside
; the program (what a silent mass install leaves to read). On failure stops the install
; with the command's exit code (3 bad input, 7 hub out of reach, 8 hub refused...).
!macro AGENT ARGS WHAT
  DetailPrint `cchc-agent ${ARGS}`
  nsExec::ExecToStack '"$INSTDIR\cchc-agent.exe" ${ARGS}'
  Pop $0
  Pop $1
  DetailPrint $1
  FileOpen $2 "$INSTDIR\install.log" a
  FileSeek $2 0 END
  FileWrite $2 `> cchc-agent ${ARGS}$\r$\n$1$\r$\n(exit $0)$\r$\n`
  FileClose $2
  ${If} $0 != "0"
    SetErrorLevel $0
    MessageBox MB_ICONSTOP "${WHAT} (cchc-agent: $0)$\r$\n$1" /SD IDOK
    Abort "${WHAT}"
  ${EndIf}
!macroend

; /NAME=value from the command line ($R0), into VAR ("" when absent). The value runs to
; the next " /" (so a hub URL keeps its "//", a path its spaces); quotes are dropped.
!macro OPTION NAME VAR
  ClearErrors
  ${WordFind2X} "$R0 /" "/${NAME}=" " /" "E+1" ${VAR}
  ${If} ${Errors}
    StrCpy ${VAR} ""
  ${EndIf}
  StrCpy $R2 ${VAR} 1
  ${If} $R2 == '"'
    StrCpy ${VAR} ${VAR} "" 1
  ${EndIf}
  StrCpy $R2 ${VAR} "" -1
  ${If} $R2 == '"'
    StrCpy ${VAR} ${VAR} -1
  ${EndIf}
!macroend

Function .onInit
  SetShellVarContext all
  !if ${ARCH} == "x64"
    SetRegView 64
  !endif
  ${GetParameters} $R0
  ; A whole option quoted by cmd.exe ("/CA=C:\My files\ca.pem") reads as unquoted.
  StrCpy $R0 " $R0"
  ${WordReplace} $R0 ' "/' " /" "+" $R0
  !insertmacro OPTION "UNIT" $Unit
  !insertmacro OPTION "HUB" $Hub
  !insertmacro OPTION "CA" $Ca
  !insertmacro OPTION "CODE" $Code
  StrCpy $NoService "0"
  ClearErrors
  ${GetOptions} $R0 "/NOSERVICE" $R1
  ${IfNot} ${Errors}
    StrCpy $NoService "1"
  ${EndIf}
  ; A hub needs its CA; a code needs its hub (as `cchc-agent init` requires).
  ${If} $Hub != ""
  ${AndIf} $Ca == ""
    SetErrorLevel 2
    MessageBox MB_ICONSTOP "/HUB= cần /CA= (tệp CA của máy chủ tỉnh) — /HUB= needs /CA=" /SD IDOK
    Abort
  ${EndIf}
  ${If} $Code != ""
  ${AndIf} $Hub == ""
    SetErrorLevel 2
    MessageBox MB_ICONSTOP "/CODE= cần /HUB= — /CODE= needs /HUB=" /SD IDOK
    Abort
  ${EndIf}
  ${If} $Hub != ""
  ${AndIf} $Unit == ""
    SetErrorLevel 2
    MessageBox MB_ICONSTOP "/HUB= cần /UNIT= (mã xã) — /HUB= needs /UNIT=" /SD IDOK
    Abort
  ${EndIf}
FunctionEnd

Section "cchc-agent"
  !insertmacro DATA_DIR
  SetOutPath "$INSTDIR"
  ; An installed service holds the executable open: stop it before the file is replaced.
  ${If} ${FileExists} "$INSTDIR\cchc-agent.exe"
    nsExec::ExecToLog '"$INSTDIR\cchc-agent.exe" service stop'
    Pop $0
  ${EndIf}
  File "/oname=cchc-agent.exe" "${EXE}"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  WriteRegStr HKLM "${UNINST_KEY}" "DisplayName" "cchc-agent (Số liệu CCHC Công an xã)"
  WriteRegStr HKLM "${UNINST_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINST_KEY}" "Publisher" "cchc"
  WriteRegStr HKLM "${UNINST_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINST_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINST_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINST_KEY}" "NoRepair" 1

  ${If} $Unit != ""
    CreateDirectory "$DataDir"
    ${If} $Hub != ""
      ${If} $Code != ""
        !insertmacro AGENT '--data-dir "$DataDir" init --unit $Unit --hub $Hub --ca "$Ca" --code $Code' "Khởi tạo và đăng ký không thành công — init and enrollment failed"
      ${Else}
        !insertmacro AGENT '--data-dir "$DataDir" init --unit $Unit --hub $Hub --ca "$Ca"' "Khởi tạo không thành công — init failed"
      ${EndIf}
    ${Else}
      !insertmacro AGENT '--data-dir "$DataDir" init --unit $Unit' "Khởi tạo không thành công — init failed"
    ${EndIf}
    ; The officers at the desk use the same data as the service (Users: modify).
    nsExec::ExecToLog 'icacls "$DataDir" /grant *S-1-5-32-545:(OI)(CI)M /T /Q'
    Pop $0
  ${EndIf}

  ${If} $NoService == "0"
  ${AndIf} ${FileExists} "$DataDir\agent.db"
    !insertmacro AGENT '--data-dir "$DataDir" service install' "Không cài được dịch vụ — the service was not installed"
    !insertmacro AGENT 'service start' "Không bật được dịch vụ — the service did not start"
  ${EndIf}

  CreateShortcut "$DESKTOP\${SHORTCUT}.lnk" "$INSTDIR\cchc-agent.exe" "ui" "$INSTDIR\cchc-agent.exe" 0 SW_SHOWMINIMIZED "" "Mở trang nhập số liệu CCHC"
  CreateDirectory "$SMPROGRAMS\cchc-agent"
  CreateShortcut "$SMPROGRAMS\cchc-agent\${SHORTCUT}.lnk" "$INSTDIR\cchc-agent.exe" "ui" "$INSTDIR\cchc-agent.exe" 0 SW_SHOWMINIMIZED "" "Mở trang nhập số liệu CCHC"
  CreateShortcut "$SMPROGRAMS\cchc-agent\Gỡ cài đặt cchc-agent.lnk" "$INSTDIR\uninstall.exe"
SectionEnd

Function un.onInit
  SetShellVarContext all
  !if ${ARCH} == "x64"
    SetRegView 64
  !endif
FunctionEnd

Section "Uninstall"
  !insertmacro DATA_DIR
  ; Stops and removes the service; none installed is not an error here.
  nsExec::ExecToLog '"$INSTDIR\cchc-agent.exe" service uninstall'
  Pop $0
  Delete "$DESKTOP\${SHORTCUT}.lnk"
  Delete "$SMPROGRAMS\cchc-agent\${SHORTCUT}.lnk"
  Delete "$SMPROGRAMS\cchc-agent\Gỡ cài đặt cchc-agent.lnk"
  RMDir "$SMPROGRAMS\cchc-agent"
  Delete "$INSTDIR\cchc-agent.exe"
  ; Builds the updater keeps beside the executable (previous, staged, being copied).
  Delete "$INSTDIR\cchc-agent.previous.exe"
  Delete "$INSTDIR\cchc-agent.new.exe"
  Delete "$INSTDIR\cchc-agent.*.tmp"
  Delete "$INSTDIR\uninstall.exe"
  Delete "$INSTDIR\install.log"
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINST_KEY}"
  ; The station's data stays (its entries may not have reached the hub) unless /PURGE.
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/PURGE" $R1
  ${IfNot} ${Errors}
    RMDir /r "$DataDir"
  ${EndIf}
SectionEnd
