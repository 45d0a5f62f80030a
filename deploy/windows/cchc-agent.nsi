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
; By hand (double-click) a page asks for the same four things — commune, hub address, CA
; file (ca.pem beside the installer is taken), enrollment code — and enrolls the PC
; before the program is installed, so a mistyped code is said there and can be corrected.
; A PC already set up (its service registered: reinstall, upgrade) is not asked again.
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
!include "nsDialogs.nsh"

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
; "1" once the enrollment page has initialised the data directory.
Var Enrolled
; The init arguments it used and what the agent printed (for install.log).
Var InitArgs
Var InitOut
Var UnitField
Var HubField
Var CaField
Var CodeField

!insertmacro MUI_PAGE_DIRECTORY
Page custom EnrollPage EnrollLeave
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "Vietnamese"
!insertmacro MUI_LANGUAGE "English"

LangString EnrollTitle ${LANG_VIETNAMESE} "Đăng ký với máy chủ tỉnh"
LangString EnrollTitle ${LANG_ENGLISH} "Enroll with the provincial hub"
LangString EnrollSub ${LANG_VIETNAMESE} "Các thông tin Công an tỉnh gửi cho xã/phường."
LangString EnrollSub ${LANG_ENGLISH} "What the provincial police sent the commune."
LangString EnrollIntro ${LANG_VIETNAMESE} "Máy được đăng ký ngay khi bấm Cài đặt; nếu thông tin sai, chương trình báo lỗi để sửa lại."
LangString EnrollIntro ${LANG_ENGLISH} "This PC is enrolled when you click Install; if something is wrong you are told, and can correct it."
LangString EnrollUnit ${LANG_VIETNAMESE} "Mã xã/phường:"
LangString EnrollUnit ${LANG_ENGLISH} "Commune code:"
LangString EnrollHub ${LANG_VIETNAMESE} "Địa chỉ máy chủ tỉnh:"
LangString EnrollHub ${LANG_ENGLISH} "Provincial hub address:"
LangString EnrollCa ${LANG_VIETNAMESE} "Tệp chứng chỉ (CA) của tỉnh:"
LangString EnrollCa ${LANG_ENGLISH} "The province's CA file:"
LangString EnrollBrowse ${LANG_VIETNAMESE} "Chọn..."
LangString EnrollBrowse ${LANG_ENGLISH} "Browse..."
LangString EnrollCode ${LANG_VIETNAMESE} "Mã đăng ký:"
LangString EnrollCode ${LANG_ENGLISH} "Enrollment code:"
LangString EnrollLater ${LANG_VIETNAMESE} "Để trống cả ba ô mã xã, địa chỉ và mã đăng ký nếu chỉ cài chương trình (khởi tạo sau bằng lệnh cchc-agent init)."
LangString EnrollLater ${LANG_ENGLISH} "Leave the commune, address and code empty to install only the program (initialise later with cchc-agent init)."
LangString EnrollSkip ${LANG_VIETNAMESE} "Chưa nhập mã xã/phường: chỉ cài chương trình, chưa khởi tạo dữ liệu và chưa bật dịch vụ. Tiếp tục?"
LangString EnrollSkip ${LANG_ENGLISH} "No commune code: only the program is installed, with no data and no service. Go on?"
LangString NeedUnit ${LANG_VIETNAMESE} "Cần nhập mã xã/phường (ví dụ 26734)."
LangString NeedUnit ${LANG_ENGLISH} "Type the commune code (for example 26734)."
LangString NeedCa ${LANG_VIETNAMESE} "Cần chọn tệp chứng chỉ (CA) của máy chủ tỉnh."
LangString NeedCa ${LANG_ENGLISH} "Choose the provincial hub's CA file."
LangString CaMissing ${LANG_VIETNAMESE} "Không có tệp chứng chỉ này:"
LangString CaMissing ${LANG_ENGLISH} "There is no such CA file:"
LangString NeedHub ${LANG_VIETNAMESE} "Mã đăng ký cần địa chỉ máy chủ tỉnh."
LangString NeedHub ${LANG_ENGLISH} "An enrollment code needs the hub's address."
LangString NoQuote ${LANG_VIETNAMESE} "Các ô không được chứa dấu nháy kép."
LangString NoQuote ${LANG_ENGLISH} "The fields cannot hold double quotes."
LangString InitFailed ${LANG_VIETNAMESE} "Chưa đăng ký được máy này. Sửa thông tin rồi bấm Cài đặt lần nữa."
LangString InitFailed ${LANG_ENGLISH} "This PC could not be enrolled. Correct what is wrong and click Install again."
LangString PemFiles ${LANG_VIETNAMESE} "Chứng chỉ"
LangString PemFiles ${LANG_ENGLISH} "Certificates"
LangString AllFiles ${LANG_VIETNAMESE} "Mọi tệp"
LangString AllFiles ${LANG_ENGLISH} "All files"

; The station's data: where `cchc-agent` looks first (machine-wide) and the service runs.
!macro DATA_DIR
  ReadEnvStr $DataDir "ProgramData"
  ${If} $DataDir == ""
    StrCpy $DataDir "C:\ProgramData"
  ${EndIf}
  StrCpy $DataDir "$DataDir\cchc-agent"
!macroend

; `init`'s arguments for $Unit, $Hub, $Ca and $Code (checked before: a hub has its CA, a
; code its hub), into OUT.
!macro INIT_ARGS OUT
  StrCpy ${OUT} `init --unit "$Unit"`
  ${If} $Hub != ""
    StrCpy ${OUT} `${OUT} --hub "$Hub" --ca "$Ca"`
  ${EndIf}
  ${If} $Code != ""
    StrCpy ${OUT} `${OUT} --code "$Code"`
  ${EndIf}
!macroend

; Runs the agent EXE with ARGS: its exit code into $0, what it printed into $1. The
; output goes through a file and is read as the UTF-8 the agent writes (nsExec would
; read it in the ANSI code page, and Vietnamese text would come out garbled).
!define /math READ_MAX ${NSIS_MAX_STRLEN} - 1
!macro RUN_AGENT EXE ARGS
  InitPluginsDir
  Delete "$PLUGINSDIR\out.txt"
  nsExec::Exec `"$SYSDIR\cmd.exe" /S /C ""${EXE}" ${ARGS} > "$PLUGINSDIR\out.txt" 2>&1"`
  Pop $0
  StrCpy $1 ""
  ClearErrors
  FileOpen $3 "$PLUGINSDIR\out.txt" r
  ${IfNot} ${Errors}
    ; At most NSIS_MAX_STRLEN - 1 bytes, so that the text and its end fit in a string.
    System::Alloc ${NSIS_MAX_STRLEN}
    Pop $4
    System::Call 'kernel32::ReadFile(p r3, p r4, i ${READ_MAX}, *i .r5, p 0)'
    System::Call 'kernel32::MultiByteToWideChar(i 65001, i 0, p r4, i -1, w .r1, i ${NSIS_MAX_STRLEN})'
    System::Free $4
    FileClose $3
    ; Notepad on Windows 7 shows a bare LF as nothing.
    ${WordReplace} $1 "$\n" "$\r$\n" "+" $1
  ${EndIf}
!macroend

; Appends a command and what it printed to install.log beside the program (UTF-16 with
; its mark, as Notepad reads Vietnamese text on every Windows).
!macro LOG ARGS OUTPUT CODE
  ClearErrors
  FileOpen $2 "$INSTDIR\install.log" a
  ${IfNot} ${Errors}
    FileSeek $2 0 END $3
    ${If} $3 == 0
      FileWriteUTF16LE /BOM $2 ""
    ${EndIf}
    FileWriteUTF16LE $2 `> cchc-agent ${ARGS}$\r$\n${OUTPUT}$\r$\n(exit ${CODE})$\r$\n`
    FileClose $2
  ${EndIf}
!macroend

; Runs a cchc-agent command; its output goes to the details and to install.log beside
; the program (what a silent mass install leaves to read). On failure stops the install
; with the command's exit code (3 bad input, 7 hub out of reach, 8 hub refused...).
!macro AGENT ARGS WHAT
  DetailPrint `cchc-agent ${ARGS}`
  !insertmacro RUN_AGENT "$INSTDIR\cchc-agent.exe" `${ARGS}`
  DetailPrint $1
  !insertmacro LOG `${ARGS}` $1 $0
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

  ${If} $Enrolled == "1"
    ; Done on the enrollment page; its output goes to the log now that there is one.
    !insertmacro LOG `--data-dir "$DataDir" $InitArgs` $InitOut 0
  ${ElseIf} $Unit != ""
    CreateDirectory "$DataDir"
    !insertmacro INIT_ARGS $InitArgs
    !insertmacro AGENT '--data-dir "$DataDir" $InitArgs' "Khởi tạo/đăng ký không thành công — init or enrollment failed"
  ${EndIf}
  ${If} $Unit != ""
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

; The enrollment page: shown when installing by hand on a PC not yet set up (no service
; registered: a reinstall or an upgrade is not asked again), prefilled from the command
; line's options and with ca.pem beside the installer.
Function EnrollPage
  ClearErrors
  ReadRegStr $0 HKLM "SYSTEM\CurrentControlSet\Services\cchc-agent" "ImagePath"
  ${IfNot} ${Errors}
    Abort
  ${EndIf}
  ${If} $Ca == ""
  ${AndIf} ${FileExists} "$EXEDIR\ca.pem"
    StrCpy $Ca "$EXEDIR\ca.pem"
  ${EndIf}
  !insertmacro MUI_HEADER_TEXT "$(EnrollTitle)" "$(EnrollSub)"
  GetDlgItem $0 $HWNDPARENT 1
  SendMessage $0 ${WM_SETTEXT} 0 "STR:$(^InstallBtn)"
  nsDialogs::Create 1018
  Pop $0
  ${If} $0 == error
    Abort
  ${EndIf}
  ${NSD_CreateLabel} 0 0 100% 20u "$(EnrollIntro)"
  Pop $0
  ${NSD_CreateLabel} 0 26u 38% 12u "$(EnrollUnit)"
  Pop $0
  ${NSD_CreateText} 40% 24u 25% 12u "$Unit"
  Pop $UnitField
  ${NSD_CreateLabel} 0 44u 38% 12u "$(EnrollHub)"
  Pop $0
  ${NSD_CreateText} 40% 42u 60% 12u "$Hub"
  Pop $HubField
  ${NSD_CreateLabel} 0 62u 38% 12u "$(EnrollCa)"
  Pop $0
  ${NSD_CreateText} 40% 60u 44% 12u "$Ca"
  Pop $CaField
  ${NSD_CreateBrowseButton} 86% 59u 14% 14u "$(EnrollBrowse)"
  Pop $0
  ${NSD_OnClick} $0 BrowseCa
  ${NSD_CreateLabel} 0 80u 38% 12u "$(EnrollCode)"
  Pop $0
  ${NSD_CreateText} 40% 78u 35% 12u "$Code"
  Pop $CodeField
  ${NSD_CreateLabel} 0 100u 100% 24u "$(EnrollLater)"
  Pop $0
  ${NSD_SetFocus} $UnitField
  ; The window's title says the step too (the taskbar shows it), once the page is ready.
  SendMessage $HWNDPARENT ${WM_SETTEXT} 0 "STR:$(^Name): $(EnrollTitle)"
  nsDialogs::Show
FunctionEnd

Function BrowseCa
  ${NSD_GetText} $CaField $0
  nsDialogs::SelectFileDialog open "$0" "$(PemFiles)|*.pem;*.crt;*.cer|$(AllFiles)|*.*"
  Pop $0
  ${If} $0 != ""
  ${AndIf} $0 != "error"
    ${NSD_SetText} $CaField $0
  ${EndIf}
FunctionEnd

; Checks what was typed, then initialises and enrolls with the program from the
; installer: on failure the officer reads why on this page, corrects it and tries again.
Function EnrollLeave
  ${NSD_GetText} $UnitField $Unit
  ${NSD_GetText} $HubField $Hub
  ${NSD_GetText} $CaField $Ca
  ${NSD_GetText} $CodeField $Code
  ${If} "$Unit$Hub$Code" == ""
    MessageBox MB_YESNO|MB_ICONQUESTION "$(EnrollSkip)" IDYES +2
    Abort
    Return
  ${EndIf}
  ClearErrors
  ${WordFind} "$Unit$Hub$Ca$Code" '"' "E#" $0
  ${IfNot} ${Errors}
    MessageBox MB_ICONEXCLAMATION "$(NoQuote)"
    Abort
  ${EndIf}
  ${If} $Unit == ""
    MessageBox MB_ICONEXCLAMATION "$(NeedUnit)"
    Abort
  ${EndIf}
  ${If} $Code != ""
  ${AndIf} $Hub == ""
    MessageBox MB_ICONEXCLAMATION "$(NeedHub)"
    Abort
  ${EndIf}
  ${If} $Hub != ""
    ${If} $Ca == ""
      MessageBox MB_ICONEXCLAMATION "$(NeedCa)"
      Abort
    ${EndIf}
    ${IfNot} ${FileExists} "$Ca"
      MessageBox MB_ICONEXCLAMATION "$(CaMissing)$\r$\n$Ca"
      Abort
    ${EndIf}
  ${EndIf}
  InitPluginsDir
  SetOutPath "$PLUGINSDIR"
  File "/oname=$PLUGINSDIR\cchc-agent.exe" "${EXE}"
  !insertmacro DATA_DIR
  CreateDirectory "$DataDir"
  !insertmacro INIT_ARGS $InitArgs
  !insertmacro RUN_AGENT "$PLUGINSDIR\cchc-agent.exe" `--data-dir "$DataDir" $InitArgs`
  StrCpy $InitOut $1
  ${If} $0 != "0"
    MessageBox MB_ICONEXCLAMATION "$(InitFailed)$\r$\n$\r$\n$InitOut"
    Abort
  ${EndIf}
  StrCpy $Enrolled "1"
FunctionEnd

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
