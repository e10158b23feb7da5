<?xml version="1.0" encoding="UTF-8"?>
<!--
  MARC21 slim to simple Dublin Core (oai_dc), written for kohaweb after the Library of Congress
  MARC to Dublin Core crosswalk (unqualified): title 245; creator 100/110/111/700/710/711/720;
  subject 600/610/611/630/650/653; description 500-599 except 506/530/540/546, with 520;
  publisher 260/264 $a$b; date 260/264 $c; type from leader/06-07 and 655; format 340/856$q;
  identifier 020/022/024 $a and 856 $u; language 008/35-37 and 041; relation 530 and 760-787;
  coverage 651/662/751/752; rights 506/540; source 534 $t and 786.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:marc="http://www.loc.gov/MARC21/slim"
    xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    exclude-result-prefixes="marc">
  <xsl:output method="xml" indent="no" encoding="UTF-8"/>

  <!-- the text of the listed subfields of a field, joined by spaces, ISBD end punctuation dropped -->
  <xsl:template name="subfields">
    <xsl:param name="codes" select="'abcdefghijklmnopqrstuvwxyz'"/>
    <xsl:param name="separator" select="' '"/>
    <xsl:variable name="text">
      <xsl:for-each select="marc:subfield[contains($codes, @code)]">
        <xsl:value-of select="normalize-space(.)"/>
        <xsl:if test="position() != last()"><xsl:value-of select="$separator"/></xsl:if>
      </xsl:for-each>
    </xsl:variable>
    <xsl:call-template name="chop">
      <xsl:with-param name="text" select="normalize-space($text)"/>
    </xsl:call-template>
  </xsl:template>

  <xsl:template name="chop">
    <xsl:param name="text"/>
    <xsl:variable name="last" select="substring($text, string-length($text))"/>
    <xsl:choose>
      <xsl:when test="string-length($text) &gt; 1 and contains(' /:;,=', $last)">
        <xsl:call-template name="chop">
          <xsl:with-param name="text" select="normalize-space(substring($text, 1, string-length($text) - 1))"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:when test="string-length($text) &gt; 3 and $last = '.' and not(contains('ABCDEFGHIJKLMNOPQRSTUVWXYZ', substring($text, string-length($text) - 1, 1)) and substring($text, string-length($text) - 2, 1) = ' ')">
        <xsl:value-of select="substring($text, 1, string-length($text) - 1)"/>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="/">
    <xsl:apply-templates select="(//marc:record)[1]"/>
  </xsl:template>

  <xsl:template match="marc:record">
    <xsl:variable name="leader6" select="substring(marc:leader, 7, 1)"/>
    <xsl:variable name="leader7" select="substring(marc:leader, 8, 1)"/>
    <xsl:variable name="f008" select="marc:controlfield[@tag='008']"/>
    <oai_dc:dc xsi:schemaLocation="http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
               xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <xsl:for-each select="marc:datafield[@tag='245']">
        <dc:title><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'abfgknps'"/></xsl:call-template></dc:title>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='100' or @tag='110' or @tag='111' or @tag='700' or @tag='710' or @tag='711' or @tag='720']">
        <dc:creator><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'abcdfgjnqu'"/></xsl:call-template></dc:creator>
      </xsl:for-each>
      <xsl:choose>
        <xsl:when test="$leader7 = 'c' or $leader7 = 'p'"><dc:type>collection</dc:type></xsl:when>
      </xsl:choose>
      <xsl:choose>
        <xsl:when test="$leader6 = 'a' or $leader6 = 't'"><dc:type>text</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'e' or $leader6 = 'f'"><dc:type>cartographic</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'c' or $leader6 = 'd'"><dc:type>notated music</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'i'"><dc:type>sound recording-nonmusical</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'j'"><dc:type>sound recording-musical</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'k'"><dc:type>still image</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'g'"><dc:type>moving image</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'r'"><dc:type>three dimensional object</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'm'"><dc:type>software, multimedia</dc:type></xsl:when>
        <xsl:when test="$leader6 = 'p'"><dc:type>mixed material</dc:type></xsl:when>
      </xsl:choose>
      <xsl:for-each select="marc:datafield[@tag='655']">
        <dc:type><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'abvxyz'"/><xsl:with-param name="separator" select="'--'"/></xsl:call-template></dc:type>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='260' or @tag='264'][marc:subfield[@code='a' or @code='b']]">
        <dc:publisher><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'ab'"/></xsl:call-template></dc:publisher>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='260' or @tag='264']/marc:subfield[@code='c']">
        <dc:date><xsl:call-template name="chop"><xsl:with-param name="text" select="normalize-space(.)"/></xsl:call-template></dc:date>
      </xsl:for-each>
      <xsl:if test="not(marc:datafield[@tag='260' or @tag='264']/marc:subfield[@code='c']) and translate(substring($f008, 8, 4), '0123456789', '') = ''">
        <dc:date><xsl:value-of select="substring($f008, 8, 4)"/></dc:date>
      </xsl:if>
      <xsl:if test="translate(substring($f008, 36, 3), 'abcdefghijklmnopqrstuvwxyz', '') = '' and string-length(normalize-space(substring($f008, 36, 3))) = 3">
        <dc:language><xsl:value-of select="substring($f008, 36, 3)"/></dc:language>
      </xsl:if>
      <xsl:for-each select="marc:datafield[@tag='041']/marc:subfield[@code='a' or @code='d']">
        <xsl:if test="normalize-space(.) != substring($f008, 36, 3)">
          <dc:language><xsl:value-of select="normalize-space(.)"/></dc:language>
        </xsl:if>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='340']">
        <dc:format><xsl:call-template name="subfields"/></dc:format>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='856']/marc:subfield[@code='q']">
        <dc:format><xsl:value-of select="normalize-space(.)"/></dc:format>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='520']">
        <dc:description><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'ab'"/></xsl:call-template></dc:description>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[starts-with(@tag, '5') and @tag != '506' and @tag != '520' and @tag != '530' and @tag != '534' and @tag != '540' and @tag != '546']">
        <dc:description><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'a'"/></xsl:call-template></dc:description>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='600' or @tag='610' or @tag='611' or @tag='630' or @tag='650' or @tag='653']">
        <dc:subject><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'abcdqtvxyz'"/><xsl:with-param name="separator" select="'--'"/></xsl:call-template></dc:subject>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='651' or @tag='662' or @tag='751' or @tag='752']">
        <dc:coverage><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'abcdfgh'"/><xsl:with-param name="separator" select="'--'"/></xsl:call-template></dc:coverage>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='530' or @tag='760' or @tag='762' or @tag='765' or @tag='767' or @tag='770' or @tag='772' or @tag='773' or @tag='774' or @tag='775' or @tag='776' or @tag='777' or @tag='780' or @tag='785' or @tag='787']">
        <dc:relation><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'aotwxz'"/></xsl:call-template></dc:relation>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='534' or @tag='786']">
        <dc:source><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'ot'"/></xsl:call-template></dc:source>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='506' or @tag='540']">
        <dc:rights><xsl:call-template name="subfields"><xsl:with-param name="codes" select="'a'"/></xsl:call-template></dc:rights>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='020']/marc:subfield[@code='a']">
        <dc:identifier>URN:ISBN:<xsl:value-of select="normalize-space(substring-before(concat(., ' '), ' '))"/></dc:identifier>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='022']/marc:subfield[@code='a']">
        <dc:identifier>URN:ISSN:<xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='024']/marc:subfield[@code='a']">
        <dc:identifier><xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
      <xsl:for-each select="marc:datafield[@tag='856']/marc:subfield[@code='u']">
        <dc:identifier><xsl:value-of select="normalize-space(.)"/></dc:identifier>
      </xsl:for-each>
    </oai_dc:dc>
  </xsl:template>
</xsl:stylesheet>
